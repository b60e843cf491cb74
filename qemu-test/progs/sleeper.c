/*
 * sleeper: a process that is inside one blocking syscall when it is migrated, to check how
 * the syscall continues on the new machine.
 *   sleeper nanosleep SECONDS  one nanosleep, no retry loop: an interruption that leaks out as
 *                              EINTR prints "FAIL EINTR"; else "slept ok", "elapsed_ms N"
 *                              (CLOCK_REALTIME elapsed, for the harness to judge).
 *   sleeper pause              one pause() with a SIGUSR1 handler installed; prints
 *                              "pause returned errno=E handler=H" (expected errno=4 handler=1).
 *   sleeper read               one read(0) of up to 4096 bytes; prints "read returned N"
 *                              (and "FAIL read errno=E" with exit 1 if N is -1).
 * Each mode prints "ready" just before blocking; exit status 0 unless noted.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handler_ran;

static void on_usr1(int sig) { (void)sig; handler_ran = 1; }

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "nanosleep")) {
		struct timespec req = { atol(argv[2]), 0 }, t0, t1;
		clock_gettime(CLOCK_REALTIME, &t0);
		printf("ready\n");
		int r = nanosleep(&req, NULL);
		int e = errno;
		clock_gettime(CLOCK_REALTIME, &t1);
		if (r == -1) {
			printf(e == EINTR ? "FAIL EINTR\n" : "FAIL nanosleep errno=%d\n", e);
			return 1;
		}
		printf("slept ok\n");
		printf("elapsed_ms %ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000 +
						  (t1.tv_nsec - t0.tv_nsec) / 1000000));
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "pause")) {
		struct sigaction sa = { .sa_handler = on_usr1 };
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, NULL)) {
			printf("FAIL sigaction\n");
			return 1;
		}
		printf("ready\n");
		pause();
		int e = errno;
		printf("pause returned errno=%d handler=%d\n", e, (int)handler_ran);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "read")) {
		char buf[4096];
		printf("ready\n");
		ssize_t n = read(0, buf, sizeof buf);
		int e = errno;
		printf("read returned %zd\n", n);
		if (n < 0) {
			printf("FAIL read errno=%d\n", e);
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: sleeper nanosleep SECONDS | sleeper pause | sleeper read\n");
	return 2;
}
