/*
 * tracer PID: makes PID a ptraced process, which migration must refuse. It PTRACE_SEIZEs PID
 * (the tracee keeps running: no stop is requested), prints "traced" and "ready", then sleeps up
 * to 600 s in 1 s steps; exiting (SIGTERM: status 0) detaches. "FAIL ptrace errno=E" (exit 1)
 * if the seize fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tracer PID\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	if (ptrace(PTRACE_SEIZE, (pid_t)atoi(argv[1]), NULL, NULL)) {
		printf("FAIL ptrace errno=%d\n", errno);
		return 1;
	}
	printf("traced\n");
	printf("ready\n");
	for (int i = 0; i < 600; i++)
		sleep(1);
	return 0;
}
