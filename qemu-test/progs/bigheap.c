/*
 * bigheap [MIB] (default 256): a large anonymous private mapping, every page dirty, must
 * arrive complete and unchanged. It fills MIB MiB with a per-word hash of the word's index,
 * prints "filled" and "ready", waits for the harness's go (labtest.h; the migration happens
 * meanwhile), then checks every word: "verify ok" or "FAIL verify at 0xOFFSET" (exit 1),
 * followed by "checksum 0x%016llx" over the whole region (deterministic for a given MIB).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "lib/labtest.h"

static uint64_t word(uint64_t i)	/* splitmix64 of the index */
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull;
	x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27; x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	size_t words = mib << 17;	/* 2^20 / 8 per MiB */

	lt_init();
	uint64_t *m = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lt_check(m != MAP_FAILED, "mmap %zu MiB", mib);
	for (size_t i = 0; i < words; i++)
		m[i] = word(i);
	printf("filled\n");
	lt_ready_wait_go();
	uint64_t sum = 0xcbf29ce484222325ull;
	long bad = -1;
	for (size_t i = 0; i < words; i++) {
		if (m[i] != word(i) && bad < 0)
			bad = (long)(i * 8);
		sum = (sum ^ m[i]) * 0x100000001b3ull;
	}
	if (bad >= 0)
		printf("FAIL verify at 0x%lx\n", bad);
	else
		printf("verify ok\n");
	printf("checksum 0x%016llx\n", (unsigned long long)sum);
	return bad >= 0;
}
