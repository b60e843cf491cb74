/*
 * heapsum [ROUNDS] [DELAY_MS] [GO_ROUND] (defaults 100, 50, 0): heap, brk area and a deep
 * stack must survive a migration. Each round frees and reallocates some of 128 malloc blocks (sizes 1 B..2 KiB,
 * now and then up to 200 KiB so that glibc serves them with mmap), rewrites part of 5 pages it
 * got from brk()/sbrk() itself, then recurses 2500 frames deep, each frame holding a local
 * array; the DELAY_MS nanosleep happens at the bottom of the recursion. In round GO_ROUND (if
 * not 0) the bottom of the recursion prints "ready" and waits for the harness's go instead
 * (labtest.h): the migration happens then, with the whole deep stack live. Every frame re-checks its array after the return, freed blocks are
 * checked before free, and a 64-bit checksum over all of it is folded each round. Output:
 * "round N" per round (and "ready" in round GO_ROUND), "checksum 0x%016llx"; mismatches print "FAIL ..." and exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/labtest.h"

#define SLOTS 128
#define DEPTH 2500
#define BRK_PAGES 5
#define PAGE 4096

static struct { unsigned char *p; size_t n; uint64_t seed; } slot[SLOTS];
static uint64_t *brk_area;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static struct timespec delay;
static long go_round, round_now;

static uint64_t mix(uint64_t x)		/* splitmix64 finaliser */
{
	x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27; x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t next(void) { return mix(rng += 0x9e3779b97f4a7c15ull); }

/* FNV-1a style, 8 bytes per step. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w = 0;
		memcpy(&w, b + i, n - i < 8 ? n - i : 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h;
}

static void fail(const char *what, long a)
{
	lt_fail("%s %ld", what, a);
}

/* Byte i of a block with this seed; filled and checked in 8-byte steps plus a tail. */
static void pattern(unsigned char *out, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w = mix(seed + i);
		memcpy(out + i, &w, n - i < 8 ? n - i : 8);
	}
}

static int block_ok(int k)
{
	unsigned char buf[256];
	for (size_t off = 0; off < slot[k].n; off += sizeof buf) {
		size_t len = slot[k].n - off < sizeof buf ? slot[k].n - off : sizeof buf;
		pattern(buf, len, slot[k].seed + off);
		if (memcmp(buf, slot[k].p + off, len))
			return 0;
	}
	return 1;
}

static void heap_step(void)
{
	for (int i = 0; i < 24; i++) {
		int k = next() % SLOTS;
		if (slot[k].p) {
			if (!block_ok(k))
				fail("heap block", k);
			free(slot[k].p);
		}
		uint64_t r = next();
		slot[k].n = r % 32 == 0 ? 1 + r % 200000 : 1 + r % 2048;
		slot[k].seed = next();
		if (!(slot[k].p = malloc(slot[k].n)))
			fail("malloc", (long)slot[k].n);
		for (size_t off = 0; off < slot[k].n; off += 256)
			pattern(slot[k].p + off, slot[k].n - off < 256 ? slot[k].n - off : 256,
				slot[k].seed + off);
	}
}

/* Each frame keeps a local array, sleeps at the bottom and checks its array afterwards. */
static uint64_t recurse(int depth, uint64_t seed)
{
	volatile uint64_t loc[12];
	for (int i = 0; i < 12; i++)
		loc[i] = mix(seed ^ ((uint64_t)depth << 8 | i));
	uint64_t h;
	if (depth == 0 && round_now == go_round) {
		lt_ready_wait_go();
		h = 1;
	} else if (depth == 0)
		h = nanosleep(&delay, NULL) == 0 ? 1 : 2;	/* EINTR would change the sum */
	else
		h = recurse(depth - 1, seed + 1);
	for (int i = 0; i < 12; i++) {
		if (loc[i] != mix(seed ^ ((uint64_t)depth << 8 | i)))
			fail("stack frame", depth);
		h = mix(h ^ loc[i]);
	}
	return h;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 100, ms = argc > 2 ? atol(argv[2]) : 50;
	go_round = argc > 3 ? atol(argv[3]) : 0;
	delay.tv_sec = ms / 1000;
	delay.tv_nsec = ms % 1000 * 1000000;
	lt_init();

	/* Grow the break ourselves: 4 pages with brk(), one more with sbrk(). */
	char *base = sbrk(0);
	if (base == (void *)-1 || brk(base + 4 * PAGE) || sbrk(PAGE) != base + 4 * PAGE)
		fail("brk", 0);
	brk_area = (uint64_t *)base;
	const size_t brk_words = BRK_PAGES * PAGE / 8;
	for (size_t i = 0; i < brk_words; i++)
		brk_area[i] = mix(i);

	uint64_t sum = 0xcbf29ce484222325ull;
	for (long r = 1; r <= rounds; r++) {
		round_now = r;
		heap_step();
		for (size_t i = r % 7; i < brk_words; i += 7)	/* rewrite a seventh of the brk area */
			brk_area[i] = mix(brk_area[i] + r);
		sum = mix(sum ^ recurse(DEPTH, (uint64_t)r << 32));
		for (int k = 0; k < SLOTS; k++)
			if (slot[k].p)
				sum = fnv(sum ^ slot[k].n, slot[k].p, slot[k].n);
		sum = fnv(sum, brk_area, brk_words * 8);
		printf("round %ld\n", r);
	}
	for (int k = 0; k < SLOTS; k++)
		if (slot[k].p && !block_ok(k))
			fail("heap block", k);
	if ((char *)sbrk(0) < base + BRK_PAGES * PAGE)
		fail("break moved back", 0);
	printf("checksum 0x%016llx\n", (unsigned long long)sum);
	return 0;
}
