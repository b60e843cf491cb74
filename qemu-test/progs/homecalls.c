/*
 * homecalls: a child whose calls name its parent and its process group, for the deputy's
 * home calls (ctl/src/migrate/home_calls.rs).
 *   homecalls PIDFILE MIB
 * The parent becomes a process group of its own, counts the SIGUSR1, SIGUSR2 and SIGURG it gets,
 * forks the child, writes the child's pid to PIDFILE and waits for it. The child fills MIB
 * MiB of heap (anonymous memory: a lazy move has pages to fetch), says "ready" and waits
 * for go (labtest), then prints, one line each: whether getppid() is its parent, getpgrp()
 * its parent's group (and getpgid(0), getpgid(parent)), getsid(0) its parent's session
 * (getsid(parent)); what kill(parent, 0), kill(parent, SIGUSR1), kill(0, SIGUSR2) and
 * kill(-group, SIGURG) return; that it got both itself (its group includes it);
 * a grandchild it forks then checks its parent (the child), group and session and signals
 * the child; its heap's checksum; then exits 7. The parent then prints what it got and the child's
 * status. Never moved, every relation holds and every kill returns 0; moved with a deputy
 * (its parent stays home), the output must be the same.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lib/labtest.h"

static volatile sig_atomic_t usr1, usr2, urg, winch;

static void on_usr1(int sig) { (void)sig; usr1++; }
static void on_usr2(int sig) { (void)sig; usr2++; }
static void on_urg(int sig) { (void)sig; urg++; }
static void on_winch(int sig) { (void)sig; winch++; }

static void child(pid_t parent, pid_t group, size_t mib)
{
	size_t n = mib << 17;
	uint64_t x = 0x9e3779b97f4a7c15ull, *heap = malloc(n * sizeof(*heap)), sum = 0;

	lt_check(heap, "malloc");
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		heap[i] = x;
	}
	lt_ready_wait_go();
	lt_say("getppid is the parent: %d", getppid() == parent);
	lt_say("getpgrp is the parent's group: %d", getpgrp() == group);
	lt_say("getpgid(0) is the parent's group: %d", getpgid(0) == group);
	lt_say("getpgid(parent) is its group: %d", getpgid(parent) == group);
	lt_say("getsid(0) is the parent's session: %d", getsid(0) == getsid(parent));
	lt_say("kill(parent, 0): %d", kill(parent, 0));
	lt_say("kill(parent, SIGUSR1): %d", kill(parent, SIGUSR1));
	lt_say("kill(0, SIGUSR2): %d", kill(0, SIGUSR2));
	lt_say("kill(-group, SIGURG): %d", kill(-group, SIGURG));
	/* Its own (it is in its group); they may come a little later from its deputy. */
	for (int waited = 0; (usr2 < 1 || urg < 1) && waited < 30000; waited += 10)
		lt_sleep_ms(10);
	lt_say("the child got its group's SIGUSR2 %d, SIGURG %d", (int)usr2, (int)urg);
	/* A grandchild born where the child runs now: its parent is the child, its group and
	 * session still the parent's; a signal it sends the child stays where they both are. */
	pid_t me = getpid(), g = fork();
	lt_check(g >= 0, "fork");
	if (g == 0) {
		lt_say("grandchild: getppid is the child: %d", getppid() == me);
		lt_say("grandchild: getpgrp is the parent's group: %d", getpgrp() == group);
		lt_say("grandchild: getsid(0) is the parent's session: %d", getsid(0) == getsid(parent));
		lt_say("grandchild: kill(child, SIGWINCH): %d", kill(me, SIGWINCH));
		_exit(9);
	}
	int st;
	while (waitpid(g, &st, 0) < 0)
		;
	for (int waited = 0; winch < 1 && waited < 30000; waited += 10)
		lt_sleep_ms(10);
	lt_say("grandchild exited %d; the child got SIGWINCH %d", WEXITSTATUS(st), (int)winch);
	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + heap[i];
	lt_say("checksum %016llx", (unsigned long long)sum);
	exit(7);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { 0 };
	int status;

	if (argc != 3) {
		fprintf(stderr, "usage: homecalls PIDFILE MIB\n");
		return 2;
	}
	lt_init();
	lt_check(setpgid(0, 0) == 0, "setpgid");
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_urg;
	sigaction(SIGURG, &sa, NULL);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	pid_t parent = getpid(), group = getpgrp();
	pid_t pid = fork();
	lt_check(pid >= 0, "fork");
	if (pid == 0)
		child(parent, group, (size_t)atol(argv[2]));
	FILE *f = fopen(argv[1], "w");
	lt_check(f && fprintf(f, "%d\n", pid) > 0 && fclose(f) == 0, "writing %s", argv[1]);
	while (waitpid(pid, &status, 0) < 0)
		; /* EINTR: a signal handler ran */
	lt_say("parent got SIGUSR1 %d, SIGUSR2 %d, SIGURG %d; child %s %d", (int)usr1, (int)usr2, (int)urg,
	       WIFEXITED(status) ? "exited" : "killed by", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return 0;
}
