/*
 * lazytouch MIB PERCENT [STEP_US]: memory that is mostly never touched again after a
 * migration. It maps MIB MiB, fills every page (so the source holds all of it), prints
 * "ready", waits for the harness's go (labtest.h; the migration happens meanwhile), then
 * reads the first PERCENT% of the pages in order (sleeping STEP_US microseconds between
 * pages if given, default 0),
 * folding a checksum, and prints "touched N pages" and "checksum 0x%016llx" (deterministic
 * for given MIB and PERCENT). Used for bytes-on-the-wire, prefetch and source-loss checks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/labtest.h"

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 256, percent = argc > 2 ? atol(argv[2]) : 10;
	long step_us = argc > 3 ? atol(argv[3]) : 0;
	size_t len = (size_t)mib << 20, pages = len / 4096, touch = pages * percent / 100;
	uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t sum = 0xcbf29ce484222325ull;

	lt_init();
	lt_check(mem != MAP_FAILED, "mmap");
	for (size_t i = 0; i < len / 8; i += 64)
		mem[i] = i * 0x9e3779b97f4a7c15ull + 1;
	lt_ready_wait_go();
	for (size_t p = 0; p < touch; p++) {
		for (size_t w = 0; w < 512; w += 64)
			sum = (sum ^ mem[p * 512 + w]) * 0x100000001b3ull;
		if (step_us)
			usleep(step_us);
	}
	printf("touched %zu pages\nchecksum 0x%016llx\n", touch, (unsigned long long)sum);
	return 0;
}
