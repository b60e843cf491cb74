/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	uapi/migr.yaml */
/* YNL-GEN uapi header */

#ifndef _UAPI_LINUX_MIGR_H
#define _UAPI_LINUX_MIGR_H

#define MIGR_FAMILY_NAME	"migr"
#define MIGR_FAMILY_VERSION	1

#define MIGR_PROTOCOL_VERSION	1

/**
 * enum migr_feature - What this module can do; migctl checks a bit before
 *   using a command.
 * @MIGR_FEATURE_INFO: The info-get command.
 */
enum migr_feature {
	MIGR_FEATURE_INFO = 1,
};

enum {
	MIGR_A_INFO_MODULE_VERSION = 1,
	MIGR_A_INFO_PROTOCOL_VERSION,
	MIGR_A_INFO_FEATURES,
	MIGR_A_INFO_PAD,

	__MIGR_A_INFO_MAX,
	MIGR_A_INFO_MAX = (__MIGR_A_INFO_MAX - 1)
};

enum {
	MIGR_CMD_INFO_GET = 1,

	__MIGR_CMD_MAX,
	MIGR_CMD_MAX = (__MIGR_CMD_MAX - 1)
};

#endif /* _UAPI_LINUX_MIGR_H */
