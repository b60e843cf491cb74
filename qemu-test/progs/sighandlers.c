/*
 * sighandlers: signal state must survive a migration. It installs a SIGUSR1 handler
 * (SA_ONSTACK|SA_SIGINFO) on a sigaltstack it allocates, a SIGUSR2 handler without SA_ONSTACK
 * and a SIGTERM handler (exit status 3), blocks SIGINT and ignores SIGHUP, prints "ready" and
 * polls every 50 ms until the harness has sent both SIGUSR1 and SIGUSR2 (gives up after 60 s
 * with "FAIL timeout ..."). Each handler records whether it ran on the alternate stack. Then
 * it prints what it observed: "usr1 altstack=yes", "usr2 altstack=no", "mask ok" (SIGINT
 * still blocked), "hup ignored" (SIGHUP still SIG_IGN) and "done". A lost setting shows as a
 * different line ("altstack=no", "mask lost", "hup not ignored"), followed by "FAIL ..." and
 * exit status 1 instead of "done".
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lib/labtest.h"

#define ALT_SIZE (64 * 1024)

static char *alt;
static volatile sig_atomic_t ran1, ran2, on_alt1, on_alt2;

static int on_altstack(void *p)
{
	return (uintptr_t)p - (uintptr_t)alt < ALT_SIZE;
}

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	volatile char here;
	(void)uc;
	on_alt1 = on_altstack((void *)&here) && sig == SIGUSR1 && si->si_signo == SIGUSR1;
	ran1 = 1;
}

static void on_usr2(int sig)
{
	volatile char here;
	on_alt2 = on_altstack((void *)&here) || sig != SIGUSR2;
	ran2 = 1;
}

static void on_term(int sig) { (void)sig; _exit(3); }

int main(void)
{
	lt_init();
	alt = malloc(ALT_SIZE);
	stack_t ss = { .ss_sp = alt, .ss_size = ALT_SIZE };
	struct sigaction s1 = { .sa_sigaction = on_usr1, .sa_flags = SA_ONSTACK | SA_SIGINFO };
	struct sigaction s2 = { .sa_handler = on_usr2 }, st = { .sa_handler = on_term };
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigset_t intr;
	sigemptyset(&s1.sa_mask);
	sigaddset(&s1.sa_mask, SIGUSR2);	/* so SIGUSR2 never lands on the altstack */
	sigemptyset(&s2.sa_mask);
	sigemptyset(&st.sa_mask);
	sigemptyset(&ign.sa_mask);
	sigemptyset(&intr);
	sigaddset(&intr, SIGINT);
	if (!alt || sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &s1, NULL) ||
	    sigaction(SIGUSR2, &s2, NULL) || sigaction(SIGTERM, &st, NULL) ||
	    sigaction(SIGHUP, &ign, NULL) || sigprocmask(SIG_BLOCK, &intr, NULL))
		lt_fail("setup");
	lt_ready();
	for (int i = 0; i < 1200 && !(ran1 && ran2); i++) {
		struct timespec t = { 0, 50 * 1000000 };
		nanosleep(&t, NULL);
	}
	lt_check(ran1 && ran2, "timeout usr1=%d usr2=%d", (int)ran1, (int)ran2);

	sigset_t cur;
	struct sigaction hup;
	stack_t now;
	int mask_ok = !sigprocmask(SIG_BLOCK, NULL, &cur) && sigismember(&cur, SIGINT) &&
		      !sigismember(&cur, SIGUSR1) && !sigismember(&cur, SIGUSR2);
	int hup_ok = !sigaction(SIGHUP, NULL, &hup) && hup.sa_handler == SIG_IGN;
	int alt_ok = !sigaltstack(NULL, &now) && now.ss_sp == alt && now.ss_size == ALT_SIZE &&
		     !(now.ss_flags & (SS_DISABLE | SS_ONSTACK));
	printf("usr1 altstack=%s\n", on_alt1 ? "yes" : "no");
	printf("usr2 altstack=%s\n", on_alt2 ? "yes" : "no");
	printf(mask_ok ? "mask ok\n" : "mask lost\n");
	printf(hup_ok ? "hup ignored\n" : "hup not ignored\n");
	lt_check(on_alt1 && !on_alt2 && mask_ok && hup_ok && alt_ok, "signal state%s",
		 alt_ok ? "" : " (sigaltstack setting lost)");
	printf("done\n");
	return 0;
}
