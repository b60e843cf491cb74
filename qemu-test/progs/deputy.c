/*
 * deputy: a program whose parent waits for it and whose pid is sent signals, to check the
 * deputy that migrate --deputy leaves on the home node.
 *   deputy SEED MIB   fills MIB MiB of heap from SEED (anonymous memory: a lazy move has
 *                     pages to fetch), prints "ready", then waits for signals:
 *                     SIGUSR1  prints "usr1 N" (N counts them);
 *                     SIGUSR2  prints "sum X" (a checksum of the whole heap, read after the
 *                              move) and exits with status 40 + N;
 *                     SIGTERM, SIGKILL, ...: their default action (the parent sees the signal);
 *                     SIGQUIT: the default action too (core), with RLIMIT_CORE 0, no core.
 * Unmigrated, "deputy 7 8" with three SIGUSR1 then SIGUSR2 prints usr1 1..3, the sum, and
 * exits 43; migrated with a deputy, the parent on the home node must see the same.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, usr2;

static void on_usr1(int sig) { (void)sig; usr1++; }
static void on_usr2(int sig) { (void)sig; usr2 = 1; }

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: deputy SEED MIB\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t x = strtoull(argv[1], NULL, 0) | 1;
	size_t n = (size_t)atol(argv[2]) << 17; /* u64 words */
	uint64_t *heap = malloc(n * sizeof(*heap));
	if (!heap)
		return 3;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		heap[i] = x;
	}
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, on_usr2);
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, &old);
	printf("ready\n");
	int printed = 0;
	for (;;) {
		sigsuspend(&old); /* no signal lost between the checks and the wait */
		while (printed < usr1)
			printf("usr1 %d\n", ++printed);
		if (usr2) {
			uint64_t sum = 0;
			for (size_t i = 0; i < n; i++)
				sum = sum * 31 + heap[i];
			printf("sum %016llx\n", (unsigned long long)sum);
			return 40 + printed;
		}
	}
}
