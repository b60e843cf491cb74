/*
 * shmanon: a process with a MAP_SHARED|MAP_ANONYMOUS mapping (1 MiB, every page touched), which
 * migration must refuse (and leave running). Prints "ready", then waits for the harness's go
 * (labtest.h) and exits 0 with "done". SIGTERM ends it with status 0.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/labtest.h"

static void on_term(int sig) { (void)sig; _exit(0); }

int main(void)
{
	lt_init();
	signal(SIGTERM, on_term);
	char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	lt_check(m != MAP_FAILED, "mmap");
	memset(m, 0x5a, 1 << 20);
	lt_ready_wait_go();
	lt_say("done");
	return 0;
}
