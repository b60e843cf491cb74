/*
 * shmanon: a process with a MAP_SHARED|MAP_ANONYMOUS mapping (1 MiB, every page touched), which
 * migration must refuse (and leave running). Prints "ready", then sleeps up to 600 s in 1 s
 * steps. SIGTERM ends it with status 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		printf("FAIL mmap\n");
		return 1;
	}
	memset(m, 0x5a, 1 << 20);
	printf("ready\n");
	for (int i = 0; i < 600; i++)
		sleep(1);
	return 0;
}
