/*
 * lazyops: lazily restored memory must behave like anonymous memory. It fills a 4 MiB region
 * and grows its heap, prints "ready", waits for the harness's go (labtest.h; the migration
 * happens meanwhile), then checks, printing one line each:
 *   "fork ok"      a child sees the same data (and its writes stay its own);
 *   "dontneed ok"  MADV_DONTNEED reads back zeros;
 *   "cow ok"       a write after a read changes only this process's copy;
 *   "mremap ok"    a moved range keeps its contents;
 *   "mprotect ok"  a range made read-only still reads right;
 *   "brk ok"       the heap grows and keeps old and new contents;
 * then "done". Any mismatch prints "FAIL ..." and exits 1.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/labtest.h"

#define LEN (4 << 20)
#define PAGE 4096

static int check(const uint8_t *p, size_t off, size_t n)
{
	for (size_t i = off; i < off + n; i++)
		if (p[i] != (uint8_t)(i * 7 + 3))
			return 0;
	return 1;
}

static void fail(const char *what)
{
	lt_fail("%s", what);
}

int main(void)
{
	uint8_t *m = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *heap = sbrk(0);
	int st;

	lt_init();
	if (m == MAP_FAILED || sbrk(64 * PAGE) == (void *)-1)
		fail("setup");
	for (size_t i = 0; i < LEN; i++)
		m[i] = (uint8_t)(i * 7 + 3);
	memset(heap, 0x5a, 64 * PAGE);
	lt_ready_wait_go();

	pid_t c = fork();
	if (c == 0) {
		m[0] = 0xee;	/* the child's own copy */
		_exit(check(m, PAGE, LEN / 2 - PAGE) && m[0] == 0xee ? 0 : 1);
	}
	if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("fork");
	if (m[0] != 3)
		fail("fork: the child's write leaked");
	printf("fork ok\n");

	uint8_t *z = m + LEN / 2;
	if (!check(m, LEN / 2, PAGE))
		fail("dontneed: before");
	if (madvise(z, 16 * PAGE, MADV_DONTNEED))
		fail("madvise");
	for (size_t i = 0; i < 16 * PAGE; i++)
		if (z[i])
			fail("dontneed: not zero");
	printf("dontneed ok\n");

	if (!check(m, LEN - 8 * PAGE, PAGE))
		fail("cow: read");
	m[LEN - 8 * PAGE] ^= 0xff;
	if (m[LEN - 8 * PAGE] != (uint8_t)(((LEN - 8 * PAGE) * 7 + 3) ^ 0xff) || !check(m, LEN - 8 * PAGE + 1, PAGE - 1))
		fail("cow: write");
	printf("cow ok\n");

	uint8_t *moved = mremap(m + LEN / 4, 64 * PAGE, 64 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
				m + LEN / 2 + 32 * PAGE);
	if (moved == MAP_FAILED)
		fail("mremap");
	for (size_t i = 0; i < 64 * PAGE; i++)
		if (moved[i] != (uint8_t)((LEN / 4 + i) * 7 + 3))
			fail("mremap: contents");
	printf("mremap ok\n");

	if (mprotect(m + 3 * LEN / 4, 32 * PAGE, PROT_READ) || !check(m, 3 * LEN / 4, 32 * PAGE))
		fail("mprotect");
	printf("mprotect ok\n");

	uint8_t *more = sbrk(256 * PAGE);
	if (more == (void *)-1)
		fail("brk: grow");
	memset(more, 0xa5, 256 * PAGE);
	for (size_t i = 0; i < 64 * PAGE; i++)
		if (heap[i] != 0x5a)
			fail("brk: old contents");
	if (more[256 * PAGE - 1] != 0xa5)
		fail("brk: new contents");
	printf("brk ok\ndone\n");
	return 0;
}
