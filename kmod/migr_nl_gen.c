// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	uapi/migr.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "migr_nl_gen.h"

#include <uapi/linux/migr.h>

/* Integer value ranges */
static const struct netlink_range_validation migr_a_task_wait_status_range = {
	.max	= 65535ULL,
};

/* Common nested types */
const struct nla_policy migr_vma_nl_policy[MIGR_A_VMA_PAD + 1] = {
	[MIGR_A_VMA_START] = { .type = NLA_U64, },
	[MIGR_A_VMA_END] = { .type = NLA_U64, },
	[MIGR_A_VMA_FLAGS] = { .type = NLA_U64, },
	[MIGR_A_VMA_PGOFF] = { .type = NLA_U64, },
	[MIGR_A_VMA_PATH] = { .type = NLA_NUL_STRING, .len = 4095, },
	[MIGR_A_VMA_KIND] = NLA_POLICY_MAX(NLA_U32, 5),
};

/* MIGR_CMD_FREEZE - do */
static const struct nla_policy migr_freeze_nl_policy[MIGR_A_TASK_SECCOMP_LISTENER_FD + 1] = {
	[MIGR_A_TASK_PID] = { .type = NLA_U32, },
	[MIGR_A_TASK_TIMEOUT_MS] = { .type = NLA_U32, },
	[MIGR_A_TASK_HOLD_TIMEOUT_MS] = { .type = NLA_U32, },
	[MIGR_A_TASK_PROOF_FD] = { .type = NLA_U32, },
	[MIGR_A_TASK_SECCOMP_LISTENER_FD] = { .type = NLA_U32, },
};

/* MIGR_CMD_THAW - do */
static const struct nla_policy migr_thaw_nl_policy[MIGR_A_TASK_SESSION + 1] = {
	[MIGR_A_TASK_SESSION] = { .type = NLA_U32, },
};

/* MIGR_CMD_COMMIT - do */
static const struct nla_policy migr_commit_nl_policy[MIGR_A_TASK_DEPUTY + 1] = {
	[MIGR_A_TASK_SESSION] = { .type = NLA_U32, },
	[MIGR_A_TASK_DEPUTY] = { .type = NLA_FLAG, },
};

/* MIGR_CMD_HAND_OVER - do */
static const struct nla_policy migr_hand_over_nl_policy[MIGR_A_TASK_SESSION + 1] = {
	[MIGR_A_TASK_SESSION] = { .type = NLA_U32, },
};

/* MIGR_CMD_RESTORE - do */
static const struct nla_policy migr_restore_nl_policy[MIGR_A_TASK_MODE + 1] = {
	[MIGR_A_TASK_SESSION] = { .type = NLA_U32, },
	[MIGR_A_TASK_FD] = { .type = NLA_U32, },
	[MIGR_A_TASK_MODE] = NLA_POLICY_MAX(NLA_U32, 1),
	[MIGR_A_TASK_REFUSAL] = NLA_POLICY_MAX(NLA_U32, 18),
	[MIGR_A_TASK_REFUSAL_ADDR] = { .type = NLA_U64, },
	[MIGR_A_TASK_PID] = { .type = NLA_U32, },
	[MIGR_A_TASK_COMM] = { .type = NLA_NUL_STRING, },
	[MIGR_A_TASK_REGS] = NLA_POLICY_EXACT_LEN(216),
	[MIGR_A_TASK_XSTATE] = { .type = NLA_BINARY, },
	[MIGR_A_TASK_SIGMASK] = { .type = NLA_U64, },
	[MIGR_A_TASK_SIGACTIONS] = NLA_POLICY_EXACT_LEN(2048),
	[MIGR_A_TASK_SAS_SP] = { .type = NLA_U64, },
	[MIGR_A_TASK_SAS_SIZE] = { .type = NLA_U64, },
	[MIGR_A_TASK_SAS_FLAGS] = { .type = NLA_U32, },
	[MIGR_A_TASK_CLEAR_CHILD_TID] = { .type = NLA_U64, },
	[MIGR_A_TASK_ROBUST_LIST] = { .type = NLA_U64, },
	[MIGR_A_TASK_ROBUST_LIST_LEN] = { .type = NLA_U64, },
	[MIGR_A_TASK_RSEQ] = { .type = NLA_U64, },
	[MIGR_A_TASK_RSEQ_LEN] = { .type = NLA_U32, },
	[MIGR_A_TASK_RSEQ_SIG] = { .type = NLA_U32, },
	[MIGR_A_TASK_RESTART] = NLA_POLICY_MAX(NLA_U32, 1),
	[MIGR_A_TASK_RESTART_REMAINING_NS] = { .type = NLA_U64, },
	[MIGR_A_TASK_MM] = NLA_POLICY_EXACT_LEN(96),
	[MIGR_A_TASK_AUXV] = { .type = NLA_BINARY, },
	[MIGR_A_TASK_VMA] = NLA_POLICY_NESTED(migr_vma_nl_policy),
};

/* MIGR_CMD_PAGER_LISTEN - do */
static const struct nla_policy migr_pager_listen_nl_policy[MIGR_A_PAGER_PID + 1] = {
	[MIGR_A_PAGER_PID] = { .type = NLA_U32, },
};

/* MIGR_CMD_PAGE_DATA - do */
static const struct nla_policy migr_page_data_nl_policy[MIGR_A_PAGER_STAGING + 1] = {
	[MIGR_A_PAGER_PID] = { .type = NLA_U32, },
	[MIGR_A_PAGER_ID] = { .type = NLA_U32, },
	[MIGR_A_PAGER_ADDR] = { .type = NLA_U64, },
	[MIGR_A_PAGER_DATA] = { .type = NLA_BINARY, },
	[MIGR_A_PAGER_KIND] = NLA_POLICY_MAX(NLA_U32, 3),
	[MIGR_A_PAGER_STAGING] = { .type = NLA_U64, },
};

/* MIGR_CMD_PAGER_END - do */
static const struct nla_policy migr_pager_end_nl_policy[MIGR_A_PAGER_END + 1] = {
	[MIGR_A_PAGER_PID] = { .type = NLA_U32, },
	[MIGR_A_PAGER_ID] = { .type = NLA_U32, },
	[MIGR_A_PAGER_END] = NLA_POLICY_MAX(NLA_U32, 1),
};

/* MIGR_CMD_DEPUTY_END - do */
static const struct nla_policy migr_deputy_end_nl_policy[MIGR_A_TASK_WAIT_STATUS + 1] = {
	[MIGR_A_TASK_PID] = { .type = NLA_U32, },
	[MIGR_A_TASK_WAIT_STATUS] = NLA_POLICY_FULL_RANGE(NLA_U32, &migr_a_task_wait_status_range),
};

/* MIGR_CMD_DEPUTY_STOP - do */
static const struct nla_policy migr_deputy_stop_nl_policy[MIGR_A_TASK_SIGNAL + 1] = {
	[MIGR_A_TASK_PID] = { .type = NLA_U32, },
	[MIGR_A_TASK_SIGNAL] = NLA_POLICY_RANGE(NLA_U32, 1, 64),
};

/* MIGR_CMD_DEPUTY_BECOME - do */
static const struct nla_policy migr_deputy_become_nl_policy[MIGR_A_TASK_EXEC_ENVP + 1] = {
	[MIGR_A_TASK_PID] = { .type = NLA_U32, },
	[MIGR_A_TASK_FD] = { .type = NLA_U32, },
	[MIGR_A_TASK_EXEC_ARGV] = { .type = NLA_BINARY, },
	[MIGR_A_TASK_EXEC_ENVP] = { .type = NLA_BINARY, },
};

/* Ops table for migr */
static const struct genl_split_ops migr_nl_ops[] = {
	{
		.cmd	= MIGR_CMD_INFO_GET,
		.doit	= migr_nl_info_get_doit,
		.flags	= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_FREEZE,
		.doit		= migr_nl_freeze_doit,
		.policy		= migr_freeze_nl_policy,
		.maxattr	= MIGR_A_TASK_SECCOMP_LISTENER_FD,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_THAW,
		.doit		= migr_nl_thaw_doit,
		.policy		= migr_thaw_nl_policy,
		.maxattr	= MIGR_A_TASK_SESSION,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_COMMIT,
		.doit		= migr_nl_commit_doit,
		.policy		= migr_commit_nl_policy,
		.maxattr	= MIGR_A_TASK_DEPUTY,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_HAND_OVER,
		.doit		= migr_nl_hand_over_doit,
		.policy		= migr_hand_over_nl_policy,
		.maxattr	= MIGR_A_TASK_SESSION,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_RESTORE,
		.doit		= migr_nl_restore_doit,
		.policy		= migr_restore_nl_policy,
		.maxattr	= MIGR_A_TASK_MODE,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_PAGER_LISTEN,
		.doit		= migr_nl_pager_listen_doit,
		.policy		= migr_pager_listen_nl_policy,
		.maxattr	= MIGR_A_PAGER_PID,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_PAGE_DATA,
		.doit		= migr_nl_page_data_doit,
		.policy		= migr_page_data_nl_policy,
		.maxattr	= MIGR_A_PAGER_STAGING,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_PAGER_END,
		.doit		= migr_nl_pager_end_doit,
		.policy		= migr_pager_end_nl_policy,
		.maxattr	= MIGR_A_PAGER_END,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_DEPUTY_END,
		.doit		= migr_nl_deputy_end_doit,
		.policy		= migr_deputy_end_nl_policy,
		.maxattr	= MIGR_A_TASK_WAIT_STATUS,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_DEPUTY_STOP,
		.doit		= migr_nl_deputy_stop_doit,
		.policy		= migr_deputy_stop_nl_policy,
		.maxattr	= MIGR_A_TASK_SIGNAL,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= MIGR_CMD_DEPUTY_BECOME,
		.doit		= migr_nl_deputy_become_doit,
		.policy		= migr_deputy_become_nl_policy,
		.maxattr	= MIGR_A_TASK_EXEC_ENVP,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
};

struct genl_family migr_nl_family __ro_after_init = {
	.name		= MIGR_FAMILY_NAME,
	.version	= MIGR_FAMILY_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.split_ops	= migr_nl_ops,
	.n_split_ops	= ARRAY_SIZE(migr_nl_ops),
};
