/*
 * filemap PATH [WAIT_MS] (default 3000): a private, writable file mapping must come back with
 * its copy-on-write pages as the program left them and its other pages still showing the
 * file. It maps all of PATH (a regular file) MAP_PRIVATE, PROT_READ|PROT_WRITE, closes the
 * descriptor, overwrites every third page (pages 0, 3, 6, ...) with a pattern, prints "ready"
 * and waits WAIT_MS in 100 ms nanosleep steps. Then it reopens PATH and checks the written
 * pages against the pattern and the others against pread() of the file: "filemap ok" or
 * "FAIL ...", then "checksum 0x%016llx" over the mapping (deterministic for a given file).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static unsigned char pat(size_t off) { return (unsigned char)(off * 131 + (off >> 12) * 7 + 1); }

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: filemap PATH [WAIT_MS]\n");
		return 2;
	}
	long wait_ms = argc > 2 ? atol(argv[2]) : 3000;
	setvbuf(stdout, NULL, _IOLBF, 0);

	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || st.st_size == 0) {
		printf("FAIL open %s\n", argv[1]);
		return 1;
	}
	size_t size = st.st_size;
	unsigned char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		printf("FAIL mmap\n");
		return 1;
	}
	close(fd);
	for (size_t off = 0; off < size; off += 3 * PAGE)
		for (size_t i = off; i < off + PAGE && i < size; i++)
			m[i] = pat(i);
	printf("ready\n");
	for (long left = wait_ms; left > 0; left -= 100) {
		struct timespec step = { 0, (left < 100 ? left : 100) * 1000000 };
		nanosleep(&step, NULL);
	}

	unsigned char buf[PAGE];
	int bad = 0;
	if ((fd = open(argv[1], O_RDONLY)) < 0) {
		printf("FAIL reopen %s\n", argv[1]);
		return 1;
	}
	for (size_t off = 0; off < size && !bad; off += PAGE) {
		size_t len = size - off < PAGE ? size - off : PAGE;
		if (off / PAGE % 3 == 0) {
			for (size_t i = 0; i < len; i++)
				if (m[off + i] != pat(off + i)) {
					printf("FAIL written page at 0x%zx differs\n", off);
					bad = 1;
					break;
				}
		} else if (pread(fd, buf, len, off) != (ssize_t)len || memcmp(buf, m + off, len)) {
			printf("FAIL untouched page at 0x%zx differs from the file\n", off);
			bad = 1;
		}
	}
	if (!bad)
		printf("filemap ok\n");
	uint64_t sum = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < size; i++)
		sum = (sum ^ m[i]) * 0x100000001b3ull;
	printf("checksum 0x%016llx\n", (unsigned long long)sum);
	return bad;
}
