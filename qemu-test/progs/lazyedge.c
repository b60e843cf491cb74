/*
 * lazyedge: the cases where lazily restored memory used to differ from anonymous memory
 * (issue 11), each checked against the data it must see. It fills its regions, prints
 * "ready", waits for go (the migration happens meanwhile: with --no-push the regions are
 * still missing on the target, so each check below is the first touch), then prints one
 * line per check:
 *   "threads ok"         8 threads read the same missing pages at the same instant;
 *   "fork-cow ok"        after fork, the parent rewrites every page; the child still reads
 *                        the data of before;
 *   "dontneed-one-mm ok" MADV_DONTNEED in the parent zeroes the parent's view only;
 *   "readonly-fork ok"   a read-only region, half read before fork, reads right in the child;
 *   "wipeonfork ok"      a MADV_WIPEONFORK region reads zero in the child, data in the parent;
 *   "mremap-grow ok"     a region grows in place and keeps its data (the new part zero);
 *   "read-into ok"       read() from a pipe into a missing page lands (the kernel writes it);
 *   "orphan ok"          a grandchild that outlives the migrated process (double fork) reads
 *                        its missing pages after that process exited;
 * The migrated process prints "main exits" and ends; the grandchild prints "done" last.
 * A case that fails prints "FAIL ..." instead and the next case runs; the process then exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/labtest.h"

#define PAGE 4096
#define THREADS 8

/* R_GROW last: mapped lowest, nothing mapped after it takes the room it grows into. */
enum { R_COW, R_RO, R_WIPE, R_THREADS, R_ORPHAN, R_READ, R_GROW, NREG };
static const size_t pages[NREG] = { 256, 64, 64, 256, 256, 16, 64 };
static uint8_t *reg[NREG];

static uint8_t pat(int r, size_t i)
{
	return (uint8_t)(i * 31 + (size_t)r * 7 + (i >> 12) * 13 + 1);
}

/* Does region r read its pattern over [from, to) bytes? */
static int intact(int r, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (reg[r][i] != pat(r, i))
			return 0;
	return 1;
}

static int zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static pid_t child_or_fail(void)
{
	pid_t c = fork();

	if (c < 0)
		lt_fail("fork: %s", strerror(errno));
	return c;
}

static int failed;

/* A case that fails says so and the next one runs (so one run shows every difference). */
#define MISS(...) do { printf("FAIL " __VA_ARGS__); printf("\n"); failed = 1; return; } while (0)

static int reaped_ok(pid_t c)
{
	int st;

	return waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static pthread_barrier_t start_line;
static int thread_bad;

static void *reader(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start_line);
	if (!intact(R_THREADS, 0, pages[R_THREADS] * PAGE))
		__atomic_store_n(&thread_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void threads_same_pages(void)
{
	pthread_t t[THREADS];

	pthread_barrier_init(&start_line, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, reader, NULL))
			lt_fail("pthread_create");
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	if (thread_bad)
		MISS("threads: a thread read wrong data");
	printf("threads ok\n");
}

static void fork_then_cow(void)
{
	size_t len = pages[R_COW] * PAGE;
	int go[2];
	char b;

	if (pipe(go))
		lt_fail("pipe");
	pid_t c = child_or_fail();
	if (c == 0) {
		close(go[1]);
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		_exit(intact(R_COW, 0, len) ? 0 : 1);
	}
	close(go[0]);
	memset(reg[R_COW], 0xa5, len);	/* copy-on-write of every page in the parent */
	if (madvise(reg[R_COW], 16 * PAGE, MADV_DONTNEED))
		lt_fail("madvise: %s", strerror(errno));
	if (write(go[1], "g", 1) != 1)
		lt_fail("write");
	if (reaped_ok(c))
		printf("fork-cow ok\n");
	else
		printf("FAIL fork-cow: the child saw wrong data\n"), failed = 1;
	if (!zero(reg[R_COW], 16 * PAGE))
		MISS("dontneed: the parent's view is not zero");
	for (size_t i = 16 * PAGE; i < len; i++)
		if (reg[R_COW][i] != 0xa5)
			MISS("cow: the parent's writes are lost at %zu", i);
	printf("dontneed-one-mm ok\n");
}

static void readonly_fork(void)
{
	size_t len = pages[R_RO] * PAGE;

	if (!intact(R_RO, 0, len / 2))
		MISS("readonly: the parent reads wrong data");
	pid_t c = child_or_fail();
	if (c == 0)
		_exit(intact(R_RO, 0, len) ? 0 : 1);
	if (!reaped_ok(c))
		MISS("readonly-fork: the child saw wrong data");
	if (!intact(R_RO, 0, len))
		MISS("readonly: the parent reads wrong data after fork");
	printf("readonly-fork ok\n");
}

static void wipe_on_fork(void)
{
	size_t len = pages[R_WIPE] * PAGE;

	if (!intact(R_WIPE, 0, len / 4))
		MISS("wipeonfork: the parent reads wrong data");
	pid_t c = child_or_fail();
	if (c == 0)
		_exit(zero(reg[R_WIPE], len) ? 0 : 1);
	if (!reaped_ok(c))
		MISS("wipeonfork: the child did not read zeros");
	if (!intact(R_WIPE, 0, len))
		MISS("wipeonfork: the parent lost its data");
	printf("wipeonfork ok\n");
}

static void mremap_grow(void)
{
	size_t len = pages[R_GROW] * PAGE;
	uint8_t *p = mremap(reg[R_GROW], len, 2 * len, 0);

	if (p == MAP_FAILED)
		MISS("mremap-grow: %s", strerror(errno));
	if (!intact(R_GROW, 0, len) || !zero(p + len, len))
		MISS("mremap-grow: wrong data");
	printf("mremap-grow ok\n");
}

static void read_into(void)
{
	int p[2];
	static const char msg[] = "landed";

	if (pipe(p) || write(p[1], msg, sizeof(msg)) != sizeof(msg))
		lt_fail("pipe");
	uint8_t *dst = reg[R_READ] + 3 * PAGE - 2;	/* straddles two missing pages */
	if (read(p[0], dst, sizeof(msg)) != sizeof(msg) || memcmp(dst, msg, sizeof(msg)))
		MISS("read-into: %s", strerror(errno));
	if (!intact(R_READ, 0, 3 * PAGE - 2) || !intact(R_READ, 3 * PAGE - 2 + sizeof(msg), pages[R_READ] * PAGE))
		MISS("read-into: the rest of the pages is wrong");
	printf("read-into ok\n");
}

/* A grandchild that reads its missing pages only after this process has exited. */
static void orphan(void)
{
	int alive[2];
	char b;

	if (pipe(alive))
		lt_fail("pipe");
	pid_t c = child_or_fail();
	if (c == 0) {
		if (child_or_fail() != 0)
			_exit(0);
		close(alive[1]);
		setsid();
		while (read(alive[0], &b, 1) != 0)	/* EOF: the migrated process is gone */
			;
		lt_sleep_ms(2000);
		if (intact(R_ORPHAN, 0, pages[R_ORPHAN] * PAGE))
			printf("orphan ok\n");
		else
			printf("FAIL orphan: wrong data after the migrated process exited\n");
		printf("done\n");
		fflush(stdout);
		_exit(0);
	}
	close(alive[0]);
	reaped_ok(c);
	printf("main exits\n");
	fflush(stdout);
	/* alive[1] closes as this process exits */
}

int main(void)
{
	lt_init();
	for (int r = 0; r < NREG; r++) {
		size_t len = pages[r] * PAGE;
		/* R_GROW gets room above it to grow into (unmapped again below). */
		reg[r] = mmap(NULL, r == R_GROW ? 2 * len : len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (reg[r] == MAP_FAILED)
			lt_fail("mmap: %s", strerror(errno));
		if (r == R_GROW && munmap(reg[r] + len, len))
			lt_fail("munmap");
		for (size_t i = 0; i < len; i++)
			reg[r][i] = pat(r, i);
	}
	if (mprotect(reg[R_RO], pages[R_RO] * PAGE, PROT_READ) ||
	    madvise(reg[R_WIPE], pages[R_WIPE] * PAGE, MADV_WIPEONFORK))
		lt_fail("setup: %s", strerror(errno));
	lt_ready_wait_go();
	threads_same_pages();
	fork_then_cow();
	readonly_fork();
	wipe_on_fork();
	mremap_grow();
	read_into();
	fflush(stdout);
	orphan();
	return failed;
}
