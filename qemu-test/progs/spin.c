/*
 * spin [SECONDS] (default 10): a process that is always running user code, so a migration
 * freezes it at an arbitrary instruction rather than in a syscall. It prints "ready", then
 * busy-loops incrementing a counter in memory (no syscalls; CLOCK_MONOTONIC, from the vdso, is
 * read every 2^20 iterations) until SECONDS have passed, counting only non-negative steps
 * between reads (the clock may jump back on another machine). The memory counter must equal
 * the loop's register count ("FAIL spin counter" otherwise, exit 1). Prints "spin done".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t counter;

static int64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

int main(int argc, char **argv)
{
	int64_t want = (argc > 1 ? atol(argv[1]) : 10) * 1000000000ll, total = 0;
	uint64_t i = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	int64_t prev = mono_ns();
	while (total < want) {
		do
			counter++;
		while (++i & ((1 << 20) - 1));
		if (counter != i) {
			printf("FAIL spin counter %llu != %llu\n", (unsigned long long)counter,
			       (unsigned long long)i);
			return 1;
		}
		int64_t now = mono_ns();
		if (now > prev)
			total += now - prev;
		prev = now;
	}
	printf("spin done\n");
	return 0;
}
