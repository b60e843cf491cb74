/*
 * benchload MIB PERCENT DIR: the workload of `make bench`, the same for migr and CRIU.
 *
 * Maps MIB MiB of anonymous memory and writes every page, creates DIR/ready, then beats: every
 * millisecond it reads CLOCK_REALTIME, and checks whether it now runs on another node (the
 * host name changed). The first beat on the new node ends the heartbeat; the gap to the
 * beat before it is the downtime the process saw (both time stamps are written out; the
 * nodes' clocks differ by an offset that the bench measures and subtracts). Then it reads
 * the first PERCENT% of its pages in order, checks every word read against what it wrote,
 * and writes DIR/result on the new node:
 *
 *   node NAME / last_source_ns T / first_target_ns T / touch_ns T / pages N / check ok|BAD
 *
 * (one "key value" per line); then it stays (its memory still mapped) until DIR/exit exists,
 * so that a method whose source lets go without the process ending (the push) is timed by
 * that alone, and exits 0 (1 on a bad word, 2 if it was never moved or never told to exit in
 * 30 minutes). It opens files only for a moment and keeps stdin/out/err as given, so CRIU can
 * dump it with /dev/null there; its heartbeat state lives on the stack, so a lazy restore
 * does not fault on it before the first beat.
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

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t word_at(size_t i)
{
	return i * 0x9e3779b97f4a7c15ull + 1;
}

/* Eight words per page, one per 512 bytes: every page is written and so must travel. */
#define STRIDE 64

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0)
		perror("write");
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: benchload MIB PERCENT DIR\n");
		return 2;
	}
	long mib = atol(argv[1]), percent = atol(argv[2]);
	const char *dir = argv[3];
	size_t len = (size_t)mib << 20, pages = len / 4096, touch = pages * percent / 100;
	struct timespec beat = { 0, 1000 * 1000 };
	struct utsname home, here;
	uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t prev, t, deadline, touch_start, touch_ns;
	size_t bad = 0;
	char text[512], path[512];

	if (mem == MAP_FAILED || percent < 0 || percent > 100) {
		fprintf(stderr, "benchload: mmap %ld MiB / percent %ld\n", mib, percent);
		return 2;
	}
	for (size_t i = 0; i < len / 8; i += STRIDE)
		mem[i] = word_at(i);
	uname(&home);
	mkdir(dir, 0755);
	write_file(dir, "ready", "ready\n");
	prev = now_ns();
	deadline = prev + 1800ull * 1000000000ull;
	for (;;) {
		nanosleep(&beat, NULL);
		t = now_ns();
		uname(&here);
		if (strcmp(here.nodename, home.nodename))
			break;
		if (t > deadline)
			return 2;
		prev = t;
	}
	touch_start = now_ns();
	for (size_t p = 0; p < touch; p++)
		for (size_t w = 0; w < 512; w += STRIDE)
			bad += mem[p * 512 + w] != word_at(p * 512 + w);
	touch_ns = now_ns() - touch_start;
	mkdir(dir, 0755);
	snprintf(text, sizeof(text),
		 "node %s\nlast_source_ns %llu\nfirst_target_ns %llu\ntouch_ns %llu\npages %zu\ncheck %s\n",
		 here.nodename, (unsigned long long)prev, (unsigned long long)t,
		 (unsigned long long)touch_ns, touch, bad ? "BAD" : "ok");
	write_file(dir, "result", text);
	snprintf(path, sizeof(path), "%s/exit", dir);
	while (access(path, F_OK) != 0) {
		if (now_ns() > deadline)
			return 2;
		nanosleep(&beat, NULL);
	}
	return bad ? 1 : 0;
}
