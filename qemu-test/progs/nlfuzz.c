/*
 * nlfuzz SEED COUNT: COUNT seeded random and mutated requests to migr.ko over raw netlink, as
 * a hostile local caller would send them: every command of the family and some it lacks;
 * attributes of every type it defines and beyond, of random sizes and contents, some holding
 * values that mean something (the pid of its own sacrificial child, small descriptor numbers,
 * user and kernel addresses), some nested, some cut short; now and then a dump request, or a
 * well-formed request with one thing changed. Then it prints
 *
 *     sent N accepted A
 *     errno E: K          (one line per errno seen)
 *     done
 *
 * and exits 0. Any request the module leaves unanswered for 30 s is a FAIL line. Whatever
 * the module hands back (a hold or session descriptor) is closed at once, which also undoes
 * it. The scenario (netlink-fuzz) runs it as root in a pid namespace of its own, where the
 * only tasks it can name are its own, and as uid 1000 (every command refused), and fails on
 * any kernel splat (the runner's check).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/labtest.h"
#include "lib/nl.h"

static uint64_t rng;

static uint64_t next(void)
{
	/* xorshift64*: a seed gives the same requests on every node and kernel. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static uint64_t below(uint64_t n)
{
	return n ? next() % n : 0;
}

static pid_t child;

/* A task of its own to name: it sleeps until killed (a freeze of it is undone when the
 * descriptor the module hands back is closed). */
static void ensure_child(void)
{
	if (child > 0 && waitpid(child, NULL, WNOHANG) == 0)
		return;
	child = fork();
	if (child < 0)
		lt_fail("fork: %s", strerror(errno));
	if (child == 0) {
		for (;;)
			pause();
	}
}

/* An attribute value: random bytes, or a value that means something to the module. */
static uint16_t fill_value(unsigned char *v, uint16_t max)
{
	static const uint16_t sizes[] = { 0, 1, 2, 4, 4, 4, 8, 8, 8, 16, 32, 64, 216, 576 };
	uint16_t len = below(4) ? sizes[below(sizeof(sizes) / sizeof(sizes[0]))] : below(max + 1);
	uint64_t word;

	if (len > max)
		len = max;
	for (uint16_t i = 0; i < len; i++)
		v[i] = next();
	switch (below(8)) {
	case 0: word = child; break;
	case 1: word = below(8); break; /* a small descriptor number */
	case 2: word = 0x400000 + (below(1 << 20) << 12); break; /* a user address */
	case 3: word = 0xffff888000000000ull + (below(1 << 20) << 12); break; /* the kernel's */
	case 4: word = ~0ull - below(4); break;
	default: return len;
	}
	memcpy(v, &word, len < 8 ? len : 8);
	return len;
}

/* One request: a command (sometimes one the family lacks) and up to 8 attributes. */
static void make_request(struct req *r, uint16_t family)
{
	uint8_t cmd = below(5) ? 1 + below(MIGR_CMD_MAX) : below(256);
	unsigned char v[4096];
	int attrs = below(9);

	req_init(r, family, cmd);
	if (below(16) == 0)
		((struct nlmsghdr *)r->buf)->nlmsg_flags |= NLM_F_DUMP;
	for (int i = 0; i < attrs && r->len < BUF - 4096 - 64; i++) {
		uint16_t type = below(4) ? 1 + below(MIGR_A_TASK_MAX + 2) : below(1 << 16);

		if (below(8) == 0) {
			/* A nest of a few attributes. */
			size_t at = r->len;
			int inner = 1 + below(3);

			req_put(r, type | NLA_F_NESTED, v, 0);
			for (int j = 0; j < inner; j++)
				req_put(r, 1 + below(8), v, fill_value(v, 64));
			((struct nlattr *)(r->buf + at))->nla_len = r->len - at;
			continue;
		}
		req_put(r, type, v, fill_value(v, below(8) ? 64 : 4000));
	}
	if (r->len > NLMSG_HDRLEN + GENL_HDRLEN + 4 && below(16) == 0)
		r->len -= 1 + below(4); /* cut short: the last attribute overruns the message */
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	long count = argc > 2 ? atol(argv[2]) : 1000, accepted = 0;
	long by_errno[600] = { 0 };
	struct timeval tv = { .tv_sec = 30 };
	uint16_t family;
	static struct req r;
	struct answer a;

	lt_init();
	rng = seed * 0x9e3779b97f4a7c15ull | 1;
	signal(SIGPIPE, SIG_IGN);
	nl_open();
	if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		lt_fail("SO_RCVTIMEO: %s", strerror(errno));
	family = resolve_family();
	for (long n = 0; n < count; n++) {
		ensure_child();
		make_request(&r, family);
		errno = 0;
		send_req(&r, &a);
		if (a.err == 0)
			accepted++;
		by_errno[a.err >= 0 && a.err < 600 ? a.err : 599]++;
		/* Whatever the module installed in this process goes again. */
		for (int fd = 3; fd < 64; fd++)
			if (fd != sock)
				close(fd);
	}
	printf("sent %ld accepted %ld\n", count, accepted);
	for (int e = 0; e < 600; e++)
		if (by_errno[e])
			printf("errno %d: %ld\n", e, by_errno[e]);
	if (child > 0)
		kill(child, SIGKILL);
	printf("done\n");
	return 0;
}
