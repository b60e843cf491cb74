/*
 * Raw generic netlink for the lab's probes of migr.ko (nlprobe, nlfuzz): build a request
 * attribute by attribute, send it, read its ack with the extack (errno, message, the
 * attribute it points at or names as missing). Header-only: each probe is one file.
 * Raw on purpose: migctl never sends what these send.
 */
#ifndef LAB_NL_H
#define LAB_NL_H

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/migr.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "labtest.h"

#define BUF 32768

static int sock;
static uint32_t seq;

struct req {
	char buf[BUF];
	size_t len;
};

static void req_init(struct req *r, uint16_t family, uint8_t cmd)
{
	struct nlmsghdr *h = (struct nlmsghdr *)r->buf;
	struct genlmsghdr *g = NLMSG_DATA(h);

	memset(r, 0, sizeof(*r));
	h->nlmsg_type = family;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++seq;
	g->cmd = cmd;
	g->version = 1;
	r->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

static void req_put(struct req *r, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(r->buf + r->len);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	r->len += NLA_ALIGN(a->nla_len);
}

/* The attribute type at byte offset off of the request, or -1. */
static int attr_at(const struct req *r, uint32_t off)
{
	if (off < NLMSG_HDRLEN + GENL_HDRLEN || off + NLA_HDRLEN > r->len)
		return -1;
	return ((const struct nlattr *)(r->buf + off))->nla_type & NLA_TYPE_MASK;
}

struct answer {
	int err, miss_type, miss_nest, bad_attr;
	char msg[256];
	char reply[BUF];
};

static void send_req(struct req *r, struct answer *a)
{
	struct nlmsghdr *h = (struct nlmsghdr *)r->buf;

	h->nlmsg_len = r->len;
	if (send(sock, r->buf, r->len, 0) < 0)
		lt_fail("send: %s", strerror(errno));
	memset(a, 0, sizeof(*a));
	a->miss_type = a->miss_nest = a->bad_attr = -1;
	strcpy(a->msg, "-");
	for (;;) {
		ssize_t n = recv(sock, a->reply, sizeof(a->reply), 0);
		struct nlmsghdr *m = (struct nlmsghdr *)a->reply;

		if (n < 0)
			lt_fail("recv: %s", strerror(errno));
		for (; NLMSG_OK(m, n); m = NLMSG_NEXT(m, n)) {
			struct nlmsgerr *e;
			struct nlattr *t;
			size_t left;

			if (m->nlmsg_seq == h->nlmsg_seq && m->nlmsg_type == NLMSG_DONE)
				return; /* the end of a dump */
			if (m->nlmsg_seq != h->nlmsg_seq || m->nlmsg_type != NLMSG_ERROR)
				continue; /* a data reply before the ack */
			e = NLMSG_DATA(m);
			a->err = -e->error;
			if (!(m->nlmsg_flags & NLM_F_ACK_TLVS))
				return;
			/* NETLINK_CAP_ACK: the request's payload is not echoed. */
			t = (struct nlattr *)((char *)e + sizeof(*e));
			left = m->nlmsg_len - ((char *)t - (char *)m);
			while (left >= NLA_HDRLEN && t->nla_len >= NLA_HDRLEN && t->nla_len <= left) {
				void *v = (char *)t + NLA_HDRLEN;

				switch (t->nla_type) {
				case NLMSGERR_ATTR_MSG:
					snprintf(a->msg, sizeof(a->msg), "%.*s",
						 (int)(t->nla_len - NLA_HDRLEN), (char *)v);
					break;
				case NLMSGERR_ATTR_OFFS:
					a->bad_attr = attr_at(r, *(uint32_t *)v);
					break;
				case NLMSGERR_ATTR_MISS_TYPE:
					a->miss_type = *(uint32_t *)v;
					break;
				case NLMSGERR_ATTR_MISS_NEST:
					a->miss_nest = attr_at(r, *(uint32_t *)v);
					break;
				}
				left -= NLA_ALIGN(t->nla_len) < left ? NLA_ALIGN(t->nla_len) : left;
				t = (struct nlattr *)((char *)t + NLA_ALIGN(t->nla_len));
			}
			return;
		}
	}
}

static uint16_t resolve_family(void)
{
	struct req r;
	char buf[BUF];
	struct nlmsghdr *m = (struct nlmsghdr *)buf;
	ssize_t n;

	req_init(&r, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	((struct nlmsghdr *)r.buf)->nlmsg_flags = NLM_F_REQUEST; /* the reply alone, no ack */
	req_put(&r, CTRL_ATTR_FAMILY_NAME, MIGR_FAMILY_NAME, sizeof(MIGR_FAMILY_NAME));
	((struct nlmsghdr *)r.buf)->nlmsg_len = r.len;
	if (send(sock, r.buf, r.len, 0) < 0 || (n = recv(sock, buf, sizeof(buf), 0)) < 0)
		lt_fail("family %s: %s", MIGR_FAMILY_NAME, strerror(errno));
	for (; NLMSG_OK(m, n); m = NLMSG_NEXT(m, n)) {
		struct nlattr *t;
		ssize_t left;

		if (m->nlmsg_type == NLMSG_ERROR)
			lt_fail("family %s: %s", MIGR_FAMILY_NAME,
				strerror(-((struct nlmsgerr *)NLMSG_DATA(m))->error));
		if (m->nlmsg_type != GENL_ID_CTRL)
			continue;
		t = (struct nlattr *)((char *)NLMSG_DATA(m) + GENL_HDRLEN);
		left = m->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
		for (; left >= NLA_HDRLEN && t->nla_len >= NLA_HDRLEN;
		     left -= NLA_ALIGN(t->nla_len), t = (struct nlattr *)((char *)t + NLA_ALIGN(t->nla_len)))
			if (t->nla_type == CTRL_ATTR_FAMILY_ID)
				return *(uint16_t *)((char *)t + NLA_HDRLEN);
	}
	lt_fail("no family id in the controller's reply");
	return 0;
}

/* A generic netlink socket with extended acks (the request's payload not echoed). */
static void nl_open(void)
{
	int one = 1;

	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (sock < 0)
		lt_fail("socket: %s", strerror(errno));
	if (setsockopt(sock, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) ||
	    setsockopt(sock, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)))
		lt_fail("setsockopt: %s", strerror(errno));
}

#endif
