/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue of migr.ko: only what Rust cannot reach in Linux 6.12 (static inlines, macros,
 * struct tables). Every function here is a thin wrapper; decisions are taken in Rust.
 */
#ifndef MIGR_GLUE_H
#define MIGR_GLUE_H

#include <linux/types.h>

struct sk_buff;
struct genl_info;

int migr_genl_register(void);
void migr_genl_unregister(void);

struct sk_buff *migr_reply_new(struct genl_info *info, void **hdr);
int migr_reply_put_u32(struct sk_buff *skb, u16 type, u32 value);
int migr_reply_put_u64(struct sk_buff *skb, u16 type, u64 value, u16 pad);
int migr_reply_put_string(struct sk_buff *skb, u16 type, const char *value);
int migr_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info);
void migr_reply_free(struct sk_buff *skb);

#endif
