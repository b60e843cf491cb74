/*
 * torture SEED KIB STEPS [no-procmem]: a seeded random sequence of memory operations, for differential
 * tests of migration (issue 11): run unmigrated, then migrated at its go point, every line it
 * prints must be the same.
 *
 * It maps a few anonymous regions (KIB KiB read-write; a read-only one; one marked
 * MADV_WIPEONFORK; one never touched), fills them from SEED, runs a first part of the steps
 * (single process, no threads: what a migration may carry), prints "ready" and waits for
 * go (the migration happens there, see lib/labtest.h), then runs the rest: writes and reads
 * of random pages, fork (children go on with the sequence from their own seed), a child that
 * outlives its parent (double fork), MADV_DONTNEED, MADV_FREE (then written again, so the
 * result does not depend on reclaim), WIPEONFORK/KEEPONFORK, mprotect (read-only, PROT_NONE
 * and back), mremap (moved, grown), partial munmap, mlock, threads reading the same pages,
 * read() from a pipe into a region, /proc/self/mem and process_vm_readv on itself, and
 * memory compaction. Each process's memory is a function of its own sequence only, so
 * processes may run in any order: every process ends by printing
 *     view LABEL checksum 0x...        (LABEL: 0 for the first, 0.1 for its first child...)
 * folding every readable byte it maps and the values it read; the first process waits for
 * every descendant, orphans included (they hold a pipe's write end), then prints "done".
 * Exit status 0, or 1 after a "FAIL ..." line.
 *
 * no-procmem: the kernel reads on our behalf only through process_vm_readv, not
 * /proc/self/mem. After a lazy migration, a /proc/PID/mem read of a page that has not
 * arrived yet fails (EIO): the kernel's /proc/PID/mem reads cannot wait for a userfaultfd
 * (README, "What differs"), so the lazy runs of `make test` leave it out and
 * `make torture MODE=lazy` keeps it (and shows that difference).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/labtest.h"

#define PAGE 4096UL
#define MAX_REGIONS 12
#define MAX_DEPTH 2
#define MAX_CHILDREN 2

struct region {
	uint8_t *addr;
	size_t len;		/* bytes, a multiple of PAGE; 0: gone */
	int prot;
};

static struct region regions[MAX_REGIONS];
static int nregions;
static uint64_t rng, folded;
static char label[64] = "0";
static int depth, children;
static int done_pipe[2];	/* every process holds the write end until it exits */

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A child's own sequence: not the parent's state (which is child_seed itself after next()). */
static uint64_t child_stream(uint64_t child_seed)
{
	return ((child_seed ^ 0xd6e8feb86659fd93ull) * 0x9e3779b97f4a7c15ull) | 1;
}

static uint64_t below(uint64_t n) { return n ? next() % n : 0; }

static void fold(uint64_t v) { folded = (folded ^ v) * 0x100000001b3ull; }

static struct region *pick(int need_prot)
{
	for (int tries = 0; tries < 16; tries++) {
		struct region *r = &regions[below(nregions)];
		if (r->len && (r->prot & need_prot) == need_prot)
			return r;
	}
	return NULL;
}

static int add_region(size_t len, int prot)
{
	lt_check(nregions < MAX_REGIONS, "too many regions");
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lt_check(p != MAP_FAILED, "mmap %zu: %s", len, strerror(errno));
	regions[nregions] = (struct region){ p, len, prot };
	return nregions++;
}

static void fill(struct region *r, uint64_t salt)
{
	for (size_t off = 0; off < r->len; off += 512)
		*(uint64_t *)(r->addr + off) = (off + salt) * 0x9e3779b97f4a7c15ull + 1;
}

/* A few words of one page, from the sequence. */
static void write_page(struct region *r, size_t page)
{
	for (int i = 0; i < 4; i++)
		*(uint64_t *)(r->addr + page * PAGE + below(PAGE / 8) * 8) = next();
}

/* The whole page: after MADV_FREE a page is either still there or zero, as reclaim had it. */
static void rewrite_page(struct region *r, size_t page)
{
	uint64_t v = next();
	for (size_t off = 0; off < PAGE; off += 8)
		*(uint64_t *)(r->addr + page * PAGE + off) = v + off;
}

static void read_page(struct region *r, size_t page)
{
	for (size_t off = 0; off < PAGE; off += 256)
		fold(*(uint64_t *)(r->addr + page * PAGE + off));
}

struct reader {
	struct region *r;
	size_t first, count;
	uint64_t sum;
};

static void *read_pages(void *arg)
{
	struct reader *t = arg;
	for (size_t p = t->first; p < t->first + t->count; p++)
		for (size_t off = 0; off < PAGE; off += 64)
			t->sum += *(uint64_t *)(t->r->addr + p * PAGE + off);
	return NULL;
}

/* Three threads read the same pages at once (the same page faulted by several). */
static void threads_read(struct region *r)
{
	size_t pages = r->len / PAGE, first = below(pages), count = 1 + below(16);
	if (first + count > pages)
		count = pages - first;
	struct reader t[3];
	pthread_t id[3];
	for (int i = 0; i < 3; i++) {
		t[i] = (struct reader){ r, first, count, 0 };
		lt_check(pthread_create(&id[i], NULL, read_pages, &t[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(id[i], NULL);
		lt_check(t[i].sum == t[0].sum, "threads read different data: %d", i);
	}
	fold(t[0].sum);
}

/* The kernel writes into the region (copy_to_user on a page maybe not there yet). */
static void read_from_pipe(struct region *r)
{
	size_t pages = r->len / PAGE, page = below(pages), len = 1 + below(2 * PAGE);
	if (page * PAGE + len > r->len)
		len = r->len - page * PAGE;
	uint8_t buf[2 * PAGE];
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)next();
	int p[2];
	lt_check(pipe(p) == 0, "pipe");
	lt_check(write(p[1], buf, len) == (ssize_t)len, "write pipe");
	lt_check(read(p[0], r->addr + page * PAGE, len) == (ssize_t)len, "read into region: %s", strerror(errno));
	close(p[0]);
	close(p[1]);
}

/* Read /proc/self/mem too (not with no-procmem). */
static int procmem = 1;

/* The kernel reads the region on our behalf: /proc/self/mem, process_vm_readv. */
static void read_via_kernel(struct region *r)
{
	size_t page = below(r->len / PAGE);
	uint64_t buf[PAGE / 8];
	if (procmem) {
		int fd = open("/proc/self/mem", O_RDONLY);
		lt_check(fd >= 0, "open /proc/self/mem");
		lt_check(pread(fd, buf, PAGE, (off_t)(uintptr_t)(r->addr + page * PAGE)) == (ssize_t)PAGE, "pread mem: %s", strerror(errno));
		close(fd);
		fold(buf[below(PAGE / 8)]);
	}
	struct iovec local = { buf, PAGE }, remote = { r->addr + page * PAGE, PAGE };
	lt_check(process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)PAGE, "process_vm_readv: %s", strerror(errno));
	fold(buf[below(PAGE / 8)]);
}

/*
 * A child that goes on with the sequence from its own seed (label: parent's + ".N"). An
 * orphan (label ".No") is the grandchild of a middle process that exits at once: it goes on
 * only once it has been reparented, and forks no more.
 */
static void fork_child(int orphan)
{
	int n = ++children;
	uint64_t child_seed = next();
	pid_t pid = fork();
	lt_check(pid >= 0, "fork");
	if (pid > 0) {
		if (orphan)
			lt_check(waitpid(pid, NULL, 0) == pid, "waitpid middle");
		return;
	}
	if (orphan) {
		pid_t parent = getpid();
		if (fork() != 0)
			_exit(0);
		while (getppid() == parent)
			lt_sleep_ms(5);
	}
	snprintf(label + strlen(label), sizeof(label) - strlen(label), ".%d%s", n, orphan ? "o" : "");
	depth = orphan ? MAX_DEPTH : depth + 1;
	children = 0;
	rng = child_stream(child_seed);
}

static void page_range(struct region *r, size_t *first, size_t *count)
{
	size_t pages = r->len / PAGE;
	*first = below(pages);
	*count = 1 + below(pages - *first < 32 ? pages - *first : 32);
}

static void one_step(int after_go)
{
	struct region *r;
	size_t first, count;
	uint64_t op = below(after_go ? 100 : 60);

	if (op < 25) {			/* write */
		if ((r = pick(PROT_READ | PROT_WRITE)))
			write_page(r, below(r->len / PAGE));
	} else if (op < 45) {		/* read */
		if ((r = pick(PROT_READ)))
			read_page(r, below(r->len / PAGE));
	} else if (op < 49) {		/* MADV_DONTNEED: zeros from now on, here only */
		if ((r = pick(PROT_READ))) {
			page_range(r, &first, &count);
			lt_check(madvise(r->addr + first * PAGE, count * PAGE, MADV_DONTNEED) == 0, "DONTNEED");
		}
	} else if (op < 51) {		/* MADV_FREE, then written: the data does not depend on reclaim */
		if ((r = pick(PROT_READ | PROT_WRITE))) {
			page_range(r, &first, &count);
			lt_check(madvise(r->addr + first * PAGE, count * PAGE, MADV_FREE) == 0, "FREE");
			for (size_t p = first; p < first + count; p++)
				rewrite_page(r, p);
		}
	} else if (op < 54) {		/* mprotect: read-only, none, back to read-write */
		if ((r = pick(0))) {
			int prot = (int[]){ PROT_READ, PROT_NONE, PROT_READ | PROT_WRITE }[below(3)];
			lt_check(mprotect(r->addr, r->len, prot) == 0, "mprotect");
			r->prot = prot;
		}
	} else if (op < 56) {		/* mremap: grow (new pages zero) or move */
		if ((r = pick(0))) {
			size_t len = r->len + (below(2) ? PAGE * (1 + below(4)) : 0);
			void *p = mremap(r->addr, r->len, len, MREMAP_MAYMOVE);
			if (len == r->len) {	/* force a move: onto a fresh reservation */
				void *to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				lt_check(to != MAP_FAILED, "reserve");
				p = mremap(r->addr, r->len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
			}
			lt_check(p != MAP_FAILED, "mremap: %s", strerror(errno));
			r->addr = p;
			r->len = len;
		}
	} else if (op < 58) {		/* munmap the last pages */
		if ((r = pick(0)) && r->len > PAGE) {
			size_t cut = PAGE * (1 + below(r->len / PAGE - 1));
			lt_check(munmap(r->addr + r->len - cut, cut) == 0, "munmap");
			r->len -= cut;
		}
	} else if (op < 60) {		/* mlock populates, munlock */
		/* The whole region: a part would split its mapping, and whether the kernel merges
		 * the parts again after munlock decides whether a later mremap of the region
		 * fails (seen: EFAULT on 6.12) - layout, not memory contents. */
		if ((r = pick(PROT_READ))) {
			lt_check(mlock(r->addr, r->len) == 0, "mlock: %s", strerror(errno));
			read_page(r, below(r->len / PAGE));
			munlock(r->addr, r->len);
		}
	} else if (op < 72) {		/* fork; from 70, a child that outlives its parent */
		if (depth < MAX_DEPTH && children < MAX_CHILDREN)
			fork_child(op >= 70);
	} else if (op < 75) {		/* WIPEONFORK / KEEPONFORK */
		if ((r = pick(0)))
			lt_check(madvise(r->addr, r->len, below(2) ? MADV_WIPEONFORK : MADV_KEEPONFORK) == 0, "WIPEONFORK");
	} else if (op < 82) {
		if ((r = pick(PROT_READ)))
			threads_read(r);
	} else if (op < 89) {
		if ((r = pick(PROT_READ | PROT_WRITE)))
			read_from_pipe(r);
	} else if (op < 96) {
		if ((r = pick(PROT_READ)))
			read_via_kernel(r);
	} else if (op < 97) {		/* compaction moves pages under us */
		int fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "1", 1) != 1)
				(void)0;	/* not allowed here: nothing to compare */
			close(fd);
		}
	} else {			/* a new region, filled */
		if (nregions < MAX_REGIONS) {
			int i = add_region(PAGE * (1 + below(16)), PROT_READ | PROT_WRITE);
			fill(&regions[i], next());
		}
	}
}

static void print_view(void)
{
	uint64_t sum = folded;
	for (int i = 0; i < nregions; i++) {
		struct region *r = &regions[i];
		if (!r->len || !(r->prot & PROT_READ))
			continue;
		for (size_t off = 0; off < r->len; off += 8)
			sum = (sum ^ *(uint64_t *)(r->addr + off)) * 0x100000001b3ull;
	}
	char line[128];
	int n = snprintf(line, sizeof(line), "view %s checksum 0x%016llx\n", label, (unsigned long long)sum);
	lt_check(write(1, line, n) == n, "write view");	/* one write: lines of processes do not mix */
}

int main(int argc, char **argv)
{
	lt_check(argc == 4 || (argc == 5 && !strcmp(argv[4], "no-procmem")), "usage: torture SEED KIB STEPS [no-procmem]");
	procmem = argc == 4;
	uint64_t seed = strtoull(argv[1], NULL, 0);
	size_t kib = strtoul(argv[2], NULL, 0);
	long steps = atol(argv[3]);
	rng = (seed * 0x9e3779b97f4a7c15ull) | 1;

	lt_init();
	fill(&regions[add_region(kib * 1024 / PAGE * PAGE, PROT_READ | PROT_WRITE)], seed);
	int ro = add_region(64 * PAGE, PROT_READ | PROT_WRITE);
	fill(&regions[ro], seed + 1);
	lt_check(mprotect(regions[ro].addr, regions[ro].len, PROT_READ) == 0, "mprotect ro");
	regions[ro].prot = PROT_READ;
	int wipe = add_region(64 * PAGE, PROT_READ | PROT_WRITE);
	fill(&regions[wipe], seed + 2);
	lt_check(madvise(regions[wipe].addr, regions[wipe].len, MADV_WIPEONFORK) == 0, "WIPEONFORK");
	add_region(256 * PAGE, PROT_READ | PROT_WRITE);	/* never touched before the move */

	long before = below(steps / 4 + 1), s;
	for (s = 0; s < before; s++)
		one_step(0);
	lt_ready_wait_go();
	lt_check(pipe(done_pipe) == 0, "pipe");	/* after the move: a pipe is not carried */
	pid_t first = getpid();
	for (; s < steps; s++)
		one_step(1);

	int status, failed = 0;
	pid_t pid;
	while ((pid = wait(&status)) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	lt_check(!failed, "a child of %s failed", label);
	print_view();
	if (getpid() != first)
		return 0;
	/* Every descendant, orphans included, holds the write end until it exits. */
	close(done_pipe[1]);
	char c;
	while (read(done_pipe[0], &c, 1) > 0)
		;
	lt_say("done");
	return 0;
}
