/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	uapi/migr.yaml */
/* YNL-GEN kernel header */

#ifndef _LINUX_MIGR_GEN_H
#define _LINUX_MIGR_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/migr.h>

/* Common nested types */
extern const struct nla_policy migr_vma_nl_policy[MIGR_A_VMA_PAD + 1];

int migr_nl_info_get_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_freeze_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_thaw_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_commit_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_hand_over_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_restore_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_pager_listen_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_page_data_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_pager_end_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_deputy_end_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_deputy_stop_doit(struct sk_buff *skb, struct genl_info *info);
int migr_nl_deputy_become_doit(struct sk_buff *skb, struct genl_info *info);

extern struct genl_family migr_nl_family;

#endif /* _LINUX_MIGR_GEN_H */
