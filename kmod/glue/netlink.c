// SPDX-License-Identifier: GPL-2.0
/*
 * Glue for generic netlink: the family (its tables are the generated ../migr_nl_gen.c),
 * message building primitives, attribute access with extack reporting (GENL_REQ_ATTR_CHECK,
 * NL_SET_ERR_ATTR_MISS, NL_SET_BAD_ATTR are macros), and the NETLINK_URELEASE notifier that
 * tells Rust a socket closed. What goes into a message and what a missing attribute means
 * are decided in Rust (kmod/bind/netlink.rs and the handlers). See glue.h.
 */
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include "../migr_nl_gen.h"
#include "glue.h"

/* Defined in kmod/bind/entry.rs; atomic context (netlink_chain is an atomic notifier). */
void migr_nl_released(u32 portid);

int migr_genl_register(void)
{
	return genl_register_family(&migr_nl_family);
}

void migr_genl_unregister(void)
{
	genl_unregister_family(&migr_nl_family);
}

/* Page-request events go to a port of the initial netns, so only its sockets matter. */
static int migr_nl_notify(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;

	if (event == NETLINK_URELEASE && n->protocol == NETLINK_GENERIC && net_eq(n->net, &init_net))
		migr_nl_released(n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block migr_nl_notifier = {
	.notifier_call = migr_nl_notify,
};

int migr_nl_notifier_register(void)
{
	return netlink_register_notifier(&migr_nl_notifier);
}

void migr_nl_notifier_unregister(void)
{
	netlink_unregister_notifier(&migr_nl_notifier);
}

/* skb if its genl header was written, else NULL (skb freed). */
static struct sk_buff *migr_msg_checked(struct sk_buff *skb, void *hdr)
{
	if (skb && !hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

/* A reply to the request of info: an skb with its genl header, or NULL. Process context. */
struct sk_buff *migr_msg_reply(struct genl_info *info, void **hdr, size_t size)
{
	struct sk_buff *skb = genlmsg_new(size, GFP_KERNEL);

	*hdr = skb ? genlmsg_iput(skb, info) : NULL;
	return migr_msg_checked(skb, *hdr);
}

/* An event (no request) of command cmd. Process context. */
struct sk_buff *migr_msg_event(u8 cmd, void **hdr, size_t size)
{
	struct sk_buff *skb = genlmsg_new(size, GFP_KERNEL);

	*hdr = skb ? genlmsg_put(skb, 0, 0, &migr_nl_family, 0, cmd) : NULL;
	return migr_msg_checked(skb, *hdr);
}

int migr_msg_put_u32(struct sk_buff *skb, u16 type, u32 value)
{
	return nla_put_u32(skb, type, value);
}

int migr_msg_put_u64(struct sk_buff *skb, u16 type, u64 value, u16 pad)
{
	return nla_put_u64_64bit(skb, type, value, pad);
}

int migr_msg_put(struct sk_buff *skb, u16 type, const void *data, int len)
{
	return nla_put(skb, type, len, data);
}

void *migr_msg_nest_start(struct sk_buff *skb, u16 type)
{
	return nla_nest_start(skb, type);
}

void migr_msg_nest_end(struct sk_buff *skb, void *nest)
{
	nla_nest_end(skb, nest);
}

/* Consumes skb whatever the outcome. */
int migr_msg_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info)
{
	genlmsg_end(skb, hdr);
	return genlmsg_reply(skb, info);
}

/* Consumes skb whatever the outcome; never blocks. */
int migr_msg_unicast(struct sk_buff *skb, void *hdr, u32 portid)
{
	genlmsg_end(skb, hdr);
	return genlmsg_unicast(&init_net, skb, portid);
}

void migr_msg_free(struct sk_buff *skb)
{
	nlmsg_free(skb);
}

const struct nlattr *migr_attr(struct genl_info *info, int type)
{
	return info->attrs[type];
}

/* The attribute, or NULL after naming it as missing in the extack (GENL_REQ_ATTR_CHECK). */
const struct nlattr *migr_attr_require(struct genl_info *info, int type)
{
	if (GENL_REQ_ATTR_CHECK(info, type))
		return NULL;
	return info->attrs[type];
}

void migr_attr_missing_in(struct genl_info *info, const struct nlattr *nest, int type)
{
	NL_SET_ERR_ATTR_MISS(info->extack, nest, type);
}

void migr_attr_bad(struct genl_info *info, const struct nlattr *attr)
{
	NL_SET_BAD_ATTR(info->extack, attr);
}

u32 migr_attr_u32(const struct nlattr *a)
{
	return nla_get_u32(a);
}

u64 migr_attr_u64(const struct nlattr *a)
{
	return nla_get_u64(a);
}

const void *migr_attr_data(const struct nlattr *a, int *len)
{
	*len = nla_len(a);
	return nla_data(a);
}

/* Next attribute of the given type at the top level of the request, after prev (NULL: first). */
const struct nlattr *migr_attr_next(struct genl_info *info, const struct nlattr *prev, int type)
{
	const struct nlattr *head = nlmsg_attrdata(info->nlhdr, GENL_HDRLEN);
	int rem = nlmsg_attrlen(info->nlhdr, GENL_HDRLEN);
	const struct nlattr *a = head;

	if (prev) {
		rem -= (const char *)prev - (const char *)head;
		a = nla_next(prev, &rem);
	}
	for (; nla_ok(a, rem); a = nla_next(a, &rem))
		if (nla_type(a) == type)
			return a;
	return NULL;
}

int migr_attr_parse_vma(struct genl_info *info, const struct nlattr *nest,
			const struct nlattr **tb, int maxtype)
{
	return nla_parse_nested((struct nlattr **)tb, maxtype, nest, migr_vma_nl_policy,
				info->extack);
}

u32 migr_info_portid(struct genl_info *info)
{
	return info->snd_portid;
}
