// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of migr.ko; see migr_glue.h. The genetlink family itself (ops, policies) is the
 * generated migr_nl_gen.c; its doit handlers are defined in Rust (kmod/netlink.rs).
 */
#include <net/genetlink.h>
#include "migr_nl_gen.h"
#include "migr_glue.h"

int migr_genl_register(void)
{
	return genl_register_family(&migr_nl_family);
}

void migr_genl_unregister(void)
{
	genl_unregister_family(&migr_nl_family);
}

/* Process context (a doit): may sleep, hence GFP_KERNEL. */
struct sk_buff *migr_reply_new(struct genl_info *info, void **hdr)
{
	struct sk_buff *skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);

	if (!skb)
		return NULL;
	*hdr = genlmsg_iput(skb, info);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

int migr_reply_put_u32(struct sk_buff *skb, u16 type, u32 value)
{
	return nla_put_u32(skb, type, value);
}

int migr_reply_put_u64(struct sk_buff *skb, u16 type, u64 value, u16 pad)
{
	return nla_put_u64_64bit(skb, type, value, pad);
}

int migr_reply_put_string(struct sk_buff *skb, u16 type, const char *value)
{
	return nla_put_string(skb, type, value);
}

/* Consumes skb whatever the outcome. */
int migr_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info)
{
	genlmsg_end(skb, hdr);
	return genlmsg_reply(skb, info);
}

void migr_reply_free(struct sk_buff *skb)
{
	nlmsg_free(skb);
}
