/*
 * filemap PATH: a private, writable file mapping must come back with
 * its copy-on-write pages as the program left them and its other pages still showing the
 * file. It maps all of PATH (a regular file) MAP_PRIVATE, PROT_READ|PROT_WRITE, closes the
 * descriptor, overwrites every third page (pages 0, 3, 6, ...) with a pattern, prints "ready"
 * and waits for the harness's go (labtest.h; the migration happens meanwhile). Then it reopens PATH and checks the written
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
#include <unistd.h>

#include "lib/labtest.h"

#define PAGE 4096

static unsigned char pat(size_t off) { return (unsigned char)(off * 131 + (off >> 12) * 7 + 1); }

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: filemap PATH\n");
		return 2;
	}
	lt_init();

	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	lt_check(fd >= 0 && !fstat(fd, &st) && st.st_size, "open %s", argv[1]);
	size_t size = st.st_size;
	unsigned char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	lt_check(m != MAP_FAILED, "mmap");
	close(fd);
	for (size_t off = 0; off < size; off += 3 * PAGE)
		for (size_t i = off; i < off + PAGE && i < size; i++)
			m[i] = pat(i);
	lt_ready_wait_go();

	unsigned char buf[PAGE];
	int bad = 0;
	lt_check((fd = open(argv[1], O_RDONLY)) >= 0, "reopen %s", argv[1]);
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
