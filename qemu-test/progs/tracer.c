/*
 * tracer PID: makes PID a ptraced process, which migration must refuse. It PTRACE_SEIZEs PID
 * (the tracee keeps running: no stop is requested), prints "traced" and "ready", then waits
 * for the harness's go (labtest.h) and exits 0 with "done", which detaches (so does SIGTERM:
 * status 0). "FAIL ptrace errno=E" (exit 1) if the seize fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "lib/labtest.h"

static void on_term(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tracer PID\n");
		return 2;
	}
	lt_init();
	signal(SIGTERM, on_term);
	lt_check(!ptrace(PTRACE_SEIZE, (pid_t)atoi(argv[1]), NULL, NULL), "ptrace errno=%d", errno);
	lt_say("traced");
	lt_ready_wait_go();
	lt_say("done");
	return 0;
}
