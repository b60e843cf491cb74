/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	uapi/migr.yaml */
/* YNL-GEN uapi header */

#ifndef _UAPI_LINUX_MIGR_H
#define _UAPI_LINUX_MIGR_H

#define MIGR_FAMILY_NAME	"migr"
#define MIGR_FAMILY_VERSION	1

#define MIGR_PROTOCOL_VERSION	9
#define MIGR_MAX_PAGE_RUN	15
#define MIGR_STAGING_LEN	65536
#define MIGR_MAX_VMAS		1024
#define MIGR_IOC_RESTORE	19713
#define MIGR_IOC_GO		19714
#define MIGR_IOC_STATUS		19715

enum migr_restore_state {
	MIGR_RESTORE_STATE_PREPARED,
	MIGR_RESTORE_STATE_BUILDING,
	MIGR_RESTORE_STATE_LAYOUT_READY,
	MIGR_RESTORE_STATE_GO,
	MIGR_RESTORE_STATE_RUNNING,
};

/**
 * enum migr_feature - What this module can do; migctl checks a bit before
 *   using a command.
 * @MIGR_FEATURE_INFO: The info-get command.
 * @MIGR_FEATURE_STOP_AND_COPY: The freeze, thaw, commit and restore commands
 *   (eager memory transfer).
 * @MIGR_FEATURE_LAZY: Restore in lazy mode, with the kernel-side pager
 *   (page-data, pager-end).
 * @MIGR_FEATURE_DEPUTY: Commit with deputy - the original stays on its node as
 *   the deputy of its copy (deputy-signal events, deputy-end).
 */
enum migr_feature {
	MIGR_FEATURE_INFO = 1,
	MIGR_FEATURE_STOP_AND_COPY = 2,
	MIGR_FEATURE_LAZY = 4,
	MIGR_FEATURE_DEPUTY = 8,
};

/**
 * enum migr_refusal - Why freeze refused a task; the task is left exactly as
 *   it was.
 * @MIGR_REFUSAL_INIT: Pid 1 of its namespace.
 * @MIGR_REFUSAL_SHARED_MEMORY: A MAP_SHARED or SysV shared memory mapping
 *   (refusal-addr says where).
 * @MIGR_REFUSAL_DEVICE_MAPPING: A VM_IO/VM_PFNMAP/VM_MIXEDMAP mapping
 *   (refusal-addr says where).
 * @MIGR_REFUSAL_FREEZE_TIMEOUT: The task did not reach a user-mode boundary in
 *   time (stopped, or in D state).
 * @MIGR_REFUSAL_SELF: The caller asked to freeze itself.
 * @MIGR_REFUSAL_PROOF_MISMATCH: proof-fd is not the /proc/PID/mem of this task
 *   as it is now (another task's, another file, or the task has exec'd since
 *   the file was opened).
 * @MIGR_REFUSAL_LAZY_PAGES_PENDING: The task's memory is still being paged in
 *   from the node it came from (a lazy migration whose pages have not all
 *   arrived); its missing pages are neither in its page tables nor readable
 *   through /proc/PID/mem, so they could not travel. It can move once its
 *   pager has ended (every page arrived).
 * @MIGR_REFUSAL_SECCOMP: A seccomp filter or strict mode confines the task
 *   (refusal-addr is the mode); the restored task would run without it.
 * @MIGR_REFUSAL_NO_NEW_PRIVS: The task has no_new_privs set; the restored task
 *   would not.
 * @MIGR_REFUSAL_NAMESPACED: The task is in namespaces other than the initial
 *   ones; refusal-addr has a bit for each (1 uts, 2 ipc, 4 mnt, 8 pid, 16 net,
 *   32 cgroup, 64 time, 128 user). The restored task would run in its daemon's
 *   (the initial ones).
 * @MIGR_REFUSAL_CAPABILITIES: The task's capability sets or securebits are not
 *   those the restore gives its user ids (a root daemon's sets after setresuid
 *   to them); they would not travel.
 */
enum migr_refusal {
	MIGR_REFUSAL_NONE,
	MIGR_REFUSAL_NO_SUCH_PID,
	MIGR_REFUSAL_KERNEL_THREAD,
	MIGR_REFUSAL_INIT,
	MIGR_REFUSAL_MULTI_THREADED,
	MIGR_REFUSAL_PTRACED,
	MIGR_REFUSAL_EXITING,
	MIGR_REFUSAL_SHARED_MEMORY,
	MIGR_REFUSAL_DEVICE_MAPPING,
	MIGR_REFUSAL_TOO_MANY_VMAS,
	MIGR_REFUSAL_ALREADY_FROZEN,
	MIGR_REFUSAL_FREEZE_TIMEOUT,
	MIGR_REFUSAL_SELF,
	MIGR_REFUSAL_PROOF_MISMATCH,
	MIGR_REFUSAL_LAZY_PAGES_PENDING,
	MIGR_REFUSAL_SECCOMP,
	MIGR_REFUSAL_NO_NEW_PRIVS,
	MIGR_REFUSAL_NAMESPACED,
	MIGR_REFUSAL_CAPABILITIES,
};

/**
 * enum migr_restart - What a frozen task was doing in the kernel when it
 *   stopped.
 * @MIGR_RESTART_NONE: Nothing to redo, or a plain restart already encoded in
 *   the registers.
 * @MIGR_RESTART_NANOSLEEP: nanosleep/clock_nanosleep (relative);
 *   restart-remaining-ns says how long is left.
 */
enum migr_restart {
	MIGR_RESTART_NONE,
	MIGR_RESTART_NANOSLEEP,
};

enum migr_vma_kind {
	MIGR_VMA_KIND_ANON,
	MIGR_VMA_KIND_FILE,
	MIGR_VMA_KIND_HEAP,
	MIGR_VMA_KIND_STACK,
	MIGR_VMA_KIND_VDSO,
	MIGR_VMA_KIND_VVAR,
};

/**
 * enum migr_mode
 * @MIGR_MODE_EAGER: Every page is written before the task runs.
 * @MIGR_MODE_LAZY: Anonymous memory is served by the pager, on fault, by
 *   prefetch and by push.
 */
enum migr_mode {
	MIGR_MODE_EAGER,
	MIGR_MODE_LAZY,
};

/**
 * enum migr_page_kind - Why a page arrives (for the counters).
 */
enum migr_page_kind {
	MIGR_PAGE_KIND_FAULT,
	MIGR_PAGE_KIND_PREFETCH,
	MIGR_PAGE_KIND_PUSH,
	MIGR_PAGE_KIND_EAGER,
};

/**
 * enum migr_pager_end
 * @MIGR_PAGER_END_COMPLETE: Every page the source had has been delivered;
 *   absent pages are zero.
 * @MIGR_PAGER_END_FAIL: The source is gone; faults on absent pages end in
 *   SIGBUS.
 */
enum migr_pager_end {
	MIGR_PAGER_END_COMPLETE,
	MIGR_PAGER_END_FAIL,
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
	MIGR_A_TASK_PID = 1,
	MIGR_A_TASK_TIMEOUT_MS,
	MIGR_A_TASK_SESSION,
	MIGR_A_TASK_HOLD_TIMEOUT_MS,
	MIGR_A_TASK_REFUSAL,
	MIGR_A_TASK_REFUSAL_ADDR,
	MIGR_A_TASK_PAD,
	MIGR_A_TASK_COMM,
	MIGR_A_TASK_REGS,
	MIGR_A_TASK_XSTATE,
	MIGR_A_TASK_SIGMASK,
	MIGR_A_TASK_SIGACTIONS,
	MIGR_A_TASK_SAS_SP,
	MIGR_A_TASK_SAS_SIZE,
	MIGR_A_TASK_SAS_FLAGS,
	MIGR_A_TASK_CLEAR_CHILD_TID,
	MIGR_A_TASK_ROBUST_LIST,
	MIGR_A_TASK_ROBUST_LIST_LEN,
	MIGR_A_TASK_RSEQ,
	MIGR_A_TASK_RSEQ_LEN,
	MIGR_A_TASK_RSEQ_SIG,
	MIGR_A_TASK_RESTART,
	MIGR_A_TASK_RESTART_REMAINING_NS,
	MIGR_A_TASK_MM,
	MIGR_A_TASK_AUXV,
	MIGR_A_TASK_VMA,
	MIGR_A_TASK_FD,
	MIGR_A_TASK_STUB_FD,
	MIGR_A_TASK_MODE,
	MIGR_A_TASK_PROOF_FD,
	MIGR_A_TASK_PAGER_ID,
	MIGR_A_TASK_DEPUTY,
	MIGR_A_TASK_SIGNAL,
	MIGR_A_TASK_EXEC_ARGV,
	MIGR_A_TASK_EXEC_ENVP,
	MIGR_A_TASK_WAIT_STATUS,
	MIGR_A_TASK_SECCOMP_LISTENER_FD,

	__MIGR_A_TASK_MAX,
	MIGR_A_TASK_MAX = (__MIGR_A_TASK_MAX - 1)
};

enum {
	MIGR_A_VMA_START = 1,
	MIGR_A_VMA_END,
	MIGR_A_VMA_FLAGS,
	MIGR_A_VMA_PGOFF,
	MIGR_A_VMA_PATH,
	MIGR_A_VMA_KIND,
	MIGR_A_VMA_PAD,

	__MIGR_A_VMA_MAX,
	MIGR_A_VMA_MAX = (__MIGR_A_VMA_MAX - 1)
};

enum {
	MIGR_A_PAGER_PID = 1,
	MIGR_A_PAGER_ID,
	MIGR_A_PAGER_ADDR,
	MIGR_A_PAGER_DATA,
	MIGR_A_PAGER_KIND,
	MIGR_A_PAGER_END,
	MIGR_A_PAGER_FAULTS,
	MIGR_A_PAGER_PAD,
	MIGR_A_PAGER_STAGING,

	__MIGR_A_PAGER_MAX,
	MIGR_A_PAGER_MAX = (__MIGR_A_PAGER_MAX - 1)
};

enum {
	MIGR_CMD_INFO_GET = 1,
	MIGR_CMD_FREEZE,
	MIGR_CMD_THAW,
	MIGR_CMD_COMMIT,
	MIGR_CMD_HAND_OVER,
	MIGR_CMD_RESTORE,
	MIGR_CMD_PAGER_LISTEN,
	MIGR_CMD_PAGE_REQUEST,
	MIGR_CMD_PAGE_DATA,
	MIGR_CMD_PAGER_END,
	MIGR_CMD_DEPUTY_SIGNAL,
	MIGR_CMD_DEPUTY_END,
	MIGR_CMD_DEPUTY_STOP,
	MIGR_CMD_DEPUTY_BECOME,

	__MIGR_CMD_MAX,
	MIGR_CMD_MAX = (__MIGR_CMD_MAX - 1)
};

#endif /* _UAPI_LINUX_MIGR_H */
