// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	uapi/migr.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "migr_nl_gen.h"

#include <uapi/linux/migr.h>

/* Ops table for migr */
static const struct genl_split_ops migr_nl_ops[] = {
	{
		.cmd	= MIGR_CMD_INFO_GET,
		.doit	= migr_nl_info_get_doit,
		.flags	= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
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
