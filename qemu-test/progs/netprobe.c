/*
 * netprobe: what the lab's network itself can do, for `make bench` to set migr against.
 *
 *   netprobe serve PORT             answer probes until killed (one connection at a time)
 *   netprobe stream ADDR PORT MIB   send MIB MiB of zeros over one plain TCP connection;
 *                                   prints "stream BYTES bytes NS ns" (until the peer has
 *                                   read the last byte: it answers after EOF)
 *   netprobe rr ADDR PORT N [SIZE]  N remote-fault-sized round trips: a 16-byte request
 *                                   answered by a SIZE-byte reply (default 4096: one page);
 *                                   prints "rr N p50 US p99 US"
 *   netprobe clock ADDR PORT N      N clock probes; prints "clock offset NS rtt NS": the
 *                                   peer's CLOCK_REALTIME minus ours, from the probe with the
 *                                   shortest round trip (NTP's estimate: error <= rtt/2)
 *
 *   netprobe send ADDR PORT         copy stdin to one connection (retrying the connect for
 *                                   10 s while the peer starts), then wait for the peer to close
 *   netprobe recv PORT              accept one connection, copy it to stdout, close, exit
 *   netprobe now                    print CLOCK_REALTIME in ns
 *   netprobe waitgone PID...        return once none of the PIDs exists or all are zombies (5 ms
 *                                   polls), printing
 *                                   CLOCK_REALTIME then: when a source was released
 *
 * The first byte of a connection names the probe ('S', 'R' or 'C'). TCP_NODELAY is set on
 * both ends, as migctl does on its channels.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

static char page[1 << 20];

static void serve_one(int fd)
{
	char kind;

	nodelay(fd);
	if (read_full(fd, &kind, 1))
		return;
	if (kind == 'S') {
		uint64_t total = 0;
		ssize_t n;

		while ((n = read(fd, page, sizeof(page))) > 0)
			total += n;
		write_full(fd, &total, sizeof(total));
	} else if (kind == 'R') {
		uint32_t req[4];

		/* The request names the reply's size (a fault asks for a page: 4096). */
		while (!read_full(fd, req, sizeof(req)) && req[0] <= sizeof(page) &&
		       !write_full(fd, page, req[0]))
			;
	} else if (kind == 'C') {
		char req[8];

		while (!read_full(fd, req, sizeof(req))) {
			uint64_t t = now_ns(CLOCK_REALTIME);

			if (write_full(fd, &t, sizeof(t)))
				break;
		}
	}
}

/* Gone, or a zombie nobody reaped yet (it holds no memory any more). */
static int gone(const char *pid)
{
	char path[64], buf[256], *state;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = 0;
	fclose(f);
	state = strrchr(buf, ')');
	return !state || state[1] == 0 || state[2] == 'Z' || state[2] == 'X';
}

static int listen_on(const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4))
		die("listen");
	return lfd;
}

static int dial(const char *host, const char *port, char kind)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	int fd;

	/* Numeric addresses only: a static binary has no NSS for names. */
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "netprobe: %s: not an IPv4 address\n", host);
		exit(2);
	}
	for (int tries = 0;; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		if (tries == 200)
			die("connect");
		close(fd);
		usleep(50 * 1000);
	}
	nodelay(fd);
	if (write_full(fd, &kind, 1))
		die("write");
	return fd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "serve")) {
		int lfd = listen_on(argv[2]);

		for (;;) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				die("accept");
			serve_one(fd);
			close(fd);
		}
	}
	if (argc == 5 && !strcmp(argv[1], "stream")) {
		uint64_t want = (uint64_t)atol(argv[4]) << 20, got = 0;
		uint64_t start = now_ns(CLOCK_MONOTONIC);
		int fd = dial(argv[2], argv[3], 'S');

		for (uint64_t sent = 0; sent < want; sent += sizeof(page))
			if (write_full(fd, page, sizeof(page)))
				die("write");
		shutdown(fd, SHUT_WR);
		if (read_full(fd, &got, sizeof(got)) || got != want)
			die("stream: short count from the peer");
		printf("stream %llu bytes %llu ns\n", (unsigned long long)got,
		       (unsigned long long)(now_ns(CLOCK_MONOTONIC) - start));
		return 0;
	}
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "rr")) {
		long n = atol(argv[4]);
		uint64_t *lat = calloc(n > 0 ? n : 1, sizeof(*lat));
		uint32_t req[4] = { argc == 6 ? atoi(argv[5]) : 4096 };
		int fd = dial(argv[2], argv[3], 'R');

		if (n <= 0 || !lat)
			die("rr: N");
		for (long i = 0; i < n; i++) {
			uint64_t t0 = now_ns(CLOCK_MONOTONIC);

			if (write_full(fd, req, sizeof(req)) || read_full(fd, page, req[0]))
				die("rr");
			lat[i] = now_ns(CLOCK_MONOTONIC) - t0;
		}
		qsort(lat, n, sizeof(*lat), cmp_u64);
		printf("rr %ld p50 %llu p99 %llu\n", n, (unsigned long long)lat[n / 2] / 1000,
		       (unsigned long long)lat[(n * 99) / 100] / 1000);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "clock")) {
		long n = atol(argv[4]);
		uint64_t best_rtt = UINT64_MAX;
		int64_t offset = 0;
		int fd = dial(argv[2], argv[3], 'C');

		for (long i = 0; i < n; i++) {
			uint64_t t0 = now_ns(CLOCK_REALTIME), peer, t1;

			if (write_full(fd, &t0, sizeof(t0)) || read_full(fd, &peer, sizeof(peer)))
				die("clock");
			t1 = now_ns(CLOCK_REALTIME);
			if (t1 - t0 < best_rtt) {
				best_rtt = t1 - t0;
				offset = (int64_t)(peer - (t0 + (t1 - t0) / 2));
			}
		}
		printf("clock offset %lld rtt %llu\n", (long long)offset, (unsigned long long)best_rtt);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "send")) {
		int fd = dial(argv[2], argv[3], 'P');
		ssize_t n;

		while ((n = read(0, page, sizeof(page))) > 0)
			if (write_full(fd, page, n))
				die("send");
		shutdown(fd, SHUT_WR);
		while (read(fd, page, sizeof(page)) > 0)
			;
		return n < 0;
	}
	if (argc == 3 && !strcmp(argv[1], "recv")) {
		int fd = accept(listen_on(argv[2]), NULL, NULL);
		char kind;
		ssize_t n;

		if (fd < 0 || read_full(fd, &kind, 1) || kind != 'P')
			die("recv");
		while ((n = read(fd, page, sizeof(page))) > 0)
			if (write_full(1, page, n))
				die("recv: write");
		return n < 0;
	}
	if (argc == 2 && !strcmp(argv[1], "now")) {
		printf("%llu\n", (unsigned long long)now_ns(CLOCK_REALTIME));
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "waitgone")) {
		struct timespec tick = { 0, 5 * 1000 * 1000 };

		for (int i = 2; i < argc; i++)
			while (!gone(argv[i]))
				nanosleep(&tick, NULL);
		printf("%llu\n", (unsigned long long)now_ns(CLOCK_REALTIME));
		return 0;
	}
	fprintf(stderr, "usage: netprobe serve PORT | stream ADDR PORT MIB | rr ADDR PORT N [SIZE] | clock ADDR PORT N |\n"
		"       send ADDR PORT | recv PORT | now | waitgone PID...\n");
	return 2;
}
