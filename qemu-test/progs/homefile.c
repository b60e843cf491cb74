/*
 * homefile: files of the home node used at an offset, for the deputy's file service
 * (ctl/src/fd/home_file.rs).
 *   homefile DB CONF
 * Opens CONF read-only (a file only the home node has) and reads 10 bytes of it; creates DB
 * (read-write) with 8 KiB of a pattern; says "ready" and waits for go (labtest). Then, one
 * line each: the rest of CONF read (its size and a checksum) and fstat's size of it; on DB:
 * pwrite, lseek + write, the offset lseek reports, pread, fstat's size, ftruncate and the
 * size after, a record lock set and tested (fcntl), flock, fsync; "locks held" and a second
 * go (meanwhile `homefile lockcheck DB`, another process, finds both locks held); F_GETFL's access mode,
 * readv and writev at the file offset; a checksum of the whole of DB. Never moved and moved
 * with a deputy (the files stay on the home node), the output and DB must be the same.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "lib/labtest.h"

static uint64_t sum_of(const unsigned char *b, size_t n, uint64_t s)
{
	for (size_t i = 0; i < n; i++)
		s = s * 131 + b[i];
	return s;
}

int main(int argc, char **argv)
{
	unsigned char buf[8192], head[10];
	struct stat st;
	if (argc != 3) {
		fprintf(stderr, "usage: homefile DB CONF | homefile lockcheck DB\n");
		return 2;
	}
	lt_init();
	if (!strcmp(argv[1], "lockcheck")) {
		/* Another process of the node: are DB's record lock and flock held? */
		int fd = open(argv[2], O_RDWR);
		struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
		lt_check(fd >= 0, "open %s", argv[2]);
		lt_say("record lock %s", fcntl(fd, F_SETLK, &lk) == 0 ? "free" : "held by another");
		lt_say("flock %s", flock(fd, LOCK_EX | LOCK_NB) == 0 ? "free" : "held by another");
		return 0;
	}
	int conf = open(argv[2], O_RDONLY);
	lt_check(conf >= 0, "open %s", argv[2]);
	lt_check(read(conf, head, sizeof(head)) == sizeof(head), "read head");
	int db = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	lt_check(db >= 0, "open %s", argv[1]);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	lt_check(write(db, buf, sizeof(buf)) == sizeof(buf), "write db");
	lt_ready_wait_go();

	size_t total = sizeof(head);
	uint64_t s = sum_of(head, sizeof(head), 0);
	ssize_t n;
	while ((n = read(conf, buf, 1000)) > 0) {
		s = sum_of(buf, (size_t)n, s);
		total += (size_t)n;
	}
	lt_say("conf read %zu bytes, checksum %016llx", total, (unsigned long long)s);
	lt_say("conf fstat size %lld", fstat(conf, &st) == 0 ? (long long)st.st_size : -1LL);

	lt_say("pwrite: %zd", pwrite(db, "hello", 5, 100));
	lt_say("lseek: %lld", (long long)lseek(db, 1000, SEEK_SET));
	lt_say("write: %zd", write(db, "world", 5));
	lt_say("offset: %lld", (long long)lseek(db, 0, SEEK_CUR));
	memset(buf, 0, 16);
	lt_say("pread: %zd %.5s", pread(db, buf, 5, 100), (char *)buf);
	lt_say("fstat size %lld", fstat(db, &st) == 0 ? (long long)st.st_size : -1LL);
	lt_say("ftruncate: %d", ftruncate(db, 6000));
	lt_say("size after %lld", fstat(db, &st) == 0 ? (long long)st.st_size : -1LL);
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	lt_say("lock: %d", fcntl(db, F_SETLK, &lk));
	struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	int r = fcntl(db, F_GETLK, &probe);
	lt_say("getlk: %d type %s", r, probe.l_type == F_UNLCK ? "unlocked" : "locked");
	lt_say("flock: %d", flock(db, LOCK_EX));
	lt_say("fsync: %d", fsync(db));
	lt_say("locks held");
	lt_wait_go();
	lt_say("access mode rdwr: %d", (fcntl(db, F_GETFL) & O_ACCMODE) == O_RDWR);
	lseek(db, 90, SEEK_SET);
	char a[8] = { 0 }, b[8] = { 0 };
	struct iovec v[2] = { { a, 7 }, { b, 7 } };
	n = readv(db, v, 2);
	lt_say("readv: %zd checksum %016llx", n, (unsigned long long)sum_of((unsigned char *)b, 7, sum_of((unsigned char *)a, 7, 0)));
	struct iovec w[2] = { { "ab", 2 }, { "cde", 3 } };
	n = writev(db, w, 2);
	lt_say("writev: %zd offset %lld", n, (long long)lseek(db, 0, SEEK_CUR));
	s = 0;
	total = 0;
	while ((n = pread(db, buf, sizeof(buf), (off_t)total)) > 0) {
		s = sum_of(buf, (size_t)n, s);
		total += (size_t)n;
	}
	lt_say("db %zu bytes, checksum %016llx", total, (unsigned long long)s);
	return 0;
}
