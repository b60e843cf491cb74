/*
 * tlsvdso [ROUNDS] [DELAY_MS] [GO_ROUND] (defaults 100, 50, 0): a dynamically linked program (ld.so, libc.so
 * mappings) whose TLS (reached through the %fs base) and vdso must work after a migration.
 * Each round it sleeps DELAY_MS, reads CLOCK_MONOTONIC and CLOCK_REALTIME (glibc answers both
 * from the vdso) and updates initialised and zero-initialised __thread variables; in round
 * GO_ROUND (if not 0) it prints "ready" and waits for the harness's go instead of sleeping
 * (labtest.h: the migration happens then). Output: "round N" per round, then "tls 0x%016llx" (a checksum of the TLS values, the same
 * for every run with the same ROUNDS) and "clock ok". Clock check: every clock_gettime returns
 * 0, and CLOCK_MONOTONIC advances by at least 0.9 * DELAY_MS between consecutive rounds, except
 * at most once (the migration: another machine's monotonic clock may be ahead or behind);
 * otherwise the last line is "FAIL clock ..." instead. Failures exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <time.h>

#include "lib/labtest.h"

static __thread uint64_t t_init = 0x0123456789abcdefull;	/* .tdata */
static __thread uint64_t t_zero;				/* .tbss */
static __thread uint32_t t_arr[64];				/* .tbss */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27; x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int64_t ns(const struct timespec *t) { return t->tv_sec * 1000000000ll + t->tv_nsec; }

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 100, ms = argc > 2 ? atol(argv[2]) : 50;
	long go_round = argc > 3 ? atol(argv[3]) : 0;
	struct timespec delay = { ms / 1000, ms % 1000 * 1000000 }, mono, real;
	int64_t prev, min_step = ms * 900000ll;
	int odd = 0;
	char bad[120] = "";		/* the first clock problem, reported at the end */
	uint64_t *where = &t_init;	/* the TLS block must stay where it was */

	lt_init();
	if (!getauxval(AT_SYSINFO_EHDR)) {
		printf("FAIL no vdso\n");
		return 1;
	}
	if (clock_gettime(CLOCK_MONOTONIC, &mono)) {
		printf("FAIL clock_gettime\n");
		return 1;
	}
	prev = ns(&mono);
	for (long r = 1; r <= rounds; r++) {
		if (r == go_round)
			lt_ready_wait_go();
		else
			nanosleep(&delay, NULL);
		if ((clock_gettime(CLOCK_MONOTONIC, &mono) || clock_gettime(CLOCK_REALTIME, &real)) && !*bad)
			snprintf(bad, sizeof bad, "clock_gettime failed in round %ld", r);
		int64_t step = ns(&mono) - prev;
		prev = ns(&mono);
		if (step < min_step && odd++ && !*bad)
			snprintf(bad, sizeof bad, "step %lld ns in round %ld (second short step)",
				 (long long)step, r);
		if (&t_init != where) {
			printf("FAIL tls moved\n");
			return 1;
		}
		t_init = mix(t_init + r);
		t_zero += t_init >> 7;
		t_arr[r % 64] ^= (uint32_t)t_zero;
		printf("round %ld\n", r);
	}
	uint64_t h = t_init ^ t_zero;
	for (int i = 0; i < 64; i++)
		h = mix(h + t_arr[i]);
	printf("tls 0x%016llx\n", (unsigned long long)h);
	if (*bad) {
		printf("FAIL clock %s\n", bad);
		return 1;
	}
	printf("clock ok\n");
	return 0;
}
