/*
 * faultprobe MIB PAGES GAP_US DIR: remote fault latency as the program sees it, for
 * `make bench` (qemu-test/bench.py).
 *
 * Maps MIB MiB of anonymous memory and writes every page, creates DIR/ready, waits for
 * DIR/go (created on the node it runs on after the move), then touches PAGES pages in a
 * scattered order (k times a stride near the golden section of the page count, coprime to
 * it: touched pages lie far apart, so no prefetch window holds a later one and every touch
 * is a fault of its own; with 65536 pages and 1000 touches at least 15 pages apart, where a window is 4), GAP_US
 * microseconds apart (so what a fault leaves behind, its window, is done before the next).
 * Each first touch is timed with CLOCK_MONOTONIC around the one read that faults, and the
 * word read is checked against what was written. Writes DIR/result on the node it ran on:
 *
 *   node NAME / pages N / local N / p50_us T / p90_us T / p99_us T / check ok|BAD
 *
 * (local: touches that took under 50 us, i.e. found their page there: there should be none)
 *
 * then exits 0 (1 on a bad word, 2 if never told to go within 30 minutes).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t word_at(size_t page)
{
	return page * 0x9e3779b97f4a7c15ull + 1;
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int gcd_is_one(size_t a, size_t b)
{
	while (b) {
		size_t t = a % b;

		a = b;
		b = t;
	}
	return a == 1;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: faultprobe MIB PAGES GAP_US DIR\n");
		return 2;
	}
	size_t len = (size_t)atol(argv[1]) << 20, pages = len / 4096, n = atol(argv[2]);
	long gap_us = atol(argv[3]);
	const char *dir = argv[4];
	volatile uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *took = calloc(n ? n : 1, sizeof(*took)), deadline;
	struct timespec gap = { gap_us / 1000000, gap_us % 1000000 * 1000 }, poll = { 0, 20 * 1000 * 1000 };
	size_t stride = (size_t)(pages * 0.6180339887) | 1, bad = 0, local = 0;
	struct utsname here;
	char path[512], text[512];
	int fd;

	if (mem == MAP_FAILED || !took || n == 0 || n > pages) {
		fprintf(stderr, "faultprobe: mmap %zu bytes / %zu pages\n", len, n);
		return 2;
	}
	while (!gcd_is_one(stride, pages))
		stride++;
	for (size_t p = 0; p < pages; p++)
		mem[p * 512] = word_at(p);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/ready", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	snprintf(path, sizeof(path), "%s/go", dir);
	deadline = now_ns() + 1800ull * 1000000000ull;
	while (access(path, F_OK) != 0) {
		if (now_ns() > deadline)
			return 2;
		nanosleep(&poll, NULL);
	}
	for (size_t k = 0; k < n; k++) {
		size_t p = k * stride % pages;
		uint64_t t = now_ns(), v = mem[p * 512];

		took[k] = now_ns() - t;
		local += took[k] < 50000;
		bad += v != word_at(p);
		nanosleep(&gap, NULL);
	}
	qsort(took, n, sizeof(*took), by_value);
	uname(&here);
	mkdir(dir, 0755); /* on the node it runs on now */
	snprintf(text, sizeof(text), "node %s\npages %zu\nlocal %zu\np50_us %llu\np90_us %llu\np99_us %llu\ncheck %s\n",
		 here.nodename, n, local, (unsigned long long)took[n / 2] / 1000,
		 (unsigned long long)took[n * 9 / 10] / 1000, (unsigned long long)took[n * 99 / 100] / 1000,
		 bad ? "BAD" : "ok");
	snprintf(path, sizeof(path), "%s/result", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return 2;
	close(fd);
	return bad ? 1 : 0;
}
