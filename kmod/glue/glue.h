/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue of migr.ko: only what Rust cannot reach in Linux 6.12 (static inlines, macros,
 * config-dependent fields, and the ops tables: file_operations, vm_operations_struct, the
 * genl family, the netlink notifier, the module parameter). No decision is taken here: the
 * functions copy fields in and out, call one kernel inline each, or forward a callback to
 * Rust (kmod/bind/entry.rs). Their Rust declarations are kmod/bind/ffi.rs; the structs below
 * are shared with it field for field, and both sides assert their layout at build time
 * (MIGR_LAYOUT here, `layout!` there) with the same numbers.
 *
 * Files, by subsystem: task.c (tasks, task_work, wait queues, thread state, the module
 * parameter), mm.c (address spaces, mappings), file.c (session files), uffd.c (the pager's
 * userfaultfd contexts and drain work), deputy.c (a task kept as the deputy of its copy), netlink.c (family, messages,
 * attributes, extack, socket-release notifier).
 */
#ifndef MIGR_GLUE_H
#define MIGR_GLUE_H

#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <linux/types.h>

struct callback_head;
struct file;
struct genl_info;
struct mm_struct;
struct nlattr;
struct sk_buff;
struct task_struct;
struct wait_queue_head;

/* Build-time check that a struct shared with Rust has the size Rust asserts too. */
#define MIGR_LAYOUT(type, size) static_assert(sizeof(type) == (size))
#define MIGR_OFFSET(type, field, off) static_assert(offsetof(type, field) == (off))

/* ---- tasks (task.c) ---- */
struct migr_task_facts {
	s32 pid;		/* pid in the caller's namespace, 0 if none */
	u32 flags;		/* task->flags (PF_*) */
	u32 global_init;	/* is_global_init() */
	u32 threads;		/* get_nr_threads() */
	u32 ptraced;		/* task->ptrace != 0 */
};

void migr_task_facts(struct task_struct *t, struct migr_task_facts *f);

/* What confines a task, as the restore could not give it back (see kmod/confinement.rs). */
struct migr_confinement {
	u64 cap_inheritable, cap_permitted, cap_effective, cap_bset, cap_ambient;
	u32 uid, euid, suid;	/* in the initial user namespace */
	u32 securebits;
	u32 seccomp_mode;	/* SECCOMP_MODE_* (0: none) */
	u32 no_new_privs;
	u32 foreign_ns;		/* MIGR_NS_* bits: namespaces that are not the initial ones */
	u32 pad;
	u64 seccomp_filter;	/* the task's newest filter, as an address to compare */
};

#define MIGR_NS_UTS (1u << 0)
#define MIGR_NS_IPC (1u << 1)
#define MIGR_NS_MNT (1u << 2)
#define MIGR_NS_PID (1u << 3)
#define MIGR_NS_NET (1u << 4)
#define MIGR_NS_CGROUP (1u << 5)
#define MIGR_NS_TIME (1u << 6)
#define MIGR_NS_USER (1u << 7)

/* Fills c; false if t has no namespaces any more (exiting). */
bool migr_task_confinement(struct task_struct *t, struct migr_confinement *c);
extern const u64 migr_cap_valid_mask;
int migr_task_work_add(struct task_struct *t, struct callback_head *work,
		       void (*func)(struct callback_head *), bool notify_signal);
bool migr_current_exiting(void);
bool migr_try_module_get(void);
void migr_module_put(void);
void migr_waitqueue_init(struct wait_queue_head *wq);
void migr_wake_all(struct wait_queue_head *wq);
long migr_wait_killable(struct wait_queue_head *wq, bool (*cond)(const void *), const void *arg,
			unsigned long timeout_ms);
long migr_sleep_killable_ns(u64 ns);
int migr_close_fd(unsigned int fd);

/* ---- thread state of current (task.c) ---- */
struct migr_sigaction {
	u64 handler, flags, restorer, mask;
};

struct migr_thread_state {
	u64 sigmask;
	u64 sas_sp, sas_size;
	u32 sas_flags;
	u32 restart;		/* enum migr_restart, decided in Rust */
	u64 restart_remaining_ns;
	u64 clear_child_tid;
	u64 robust_list, robust_list_len;
	u64 rseq;
	u32 rseq_len, rseq_sig;
};

/* current->restart_block.nanosleep, read as is (meaningful only for a nanosleep restart). */
struct migr_nanosleep {
	s32 clockid;
	u32 pad;
	u64 expires;
};

int migr_get_regs(void *buf, unsigned int size);
int migr_xstate_size(void);
int migr_get_xstate(void *buf, unsigned int size);
void migr_get_thread_state(struct migr_thread_state *st, struct migr_sigaction *acts);
void migr_get_nanosleep(struct migr_nanosleep *ns);
void migr_set_thread_state(const struct migr_thread_state *st, const struct migr_sigaction *acts);
int migr_set_regs(const void *buf, unsigned int size);
int migr_set_xstate(const void *buf, unsigned int size);
int migr_set_sigmask(u64 mask);
void migr_get_comm(char *buf, unsigned int size);

/* ---- address space (mm.c) ---- */
struct migr_mm_fields {
	u64 start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
	u64 arg_start, arg_end, env_start, env_end, vdso;
};

struct migr_vma_info {
	u64 start, end, flags, pgoff;
	u32 kind;		/* enum migr_vma_kind, decided in Rust */
	u32 has_file;
};

void migr_mmap_read_lock(struct mm_struct *mm);
void migr_mmap_read_unlock(struct mm_struct *mm);
int migr_vma_at(struct mm_struct *mm, u64 addr, struct migr_vma_info *v, char *path,
		unsigned int path_size);
void migr_get_mm_fields(struct mm_struct *mm, struct migr_mm_fields *f);
void migr_set_mm_fields(struct mm_struct *mm, const struct migr_mm_fields *f);
int migr_get_auxv(struct mm_struct *mm, u64 *buf, unsigned int n);
void migr_set_auxv(struct mm_struct *mm, const u64 *buf, unsigned int n);
struct file *migr_filp_open_ro(const char *path);
int migr_vma_add_flags(u64 start, u64 flags);
extern const u64 migr_prot_read, migr_prot_write, migr_prot_exec;
extern const u64 migr_map_private, migr_map_fixed, migr_map_anonymous, migr_map_growsdown;
extern const u64 migr_map_noreserve;

/* ---- files (file.c) ---- */
enum migr_file_kind {
	MIGR_FILE_RESTORE_CONTROL,
	MIGR_FILE_RESTORE_STUB,
	MIGR_FILE_FROZEN,
};
int migr_anon_fd(u32 kind, void *priv);
extern const u32 migr_pollin, migr_pollerr;

/* ---- the pager's userfaultfd (uffd.c) ---- */
struct cred;
struct uffd_msg;
struct file *migr_uffd_dev_open(void);
struct file *migr_uffd_new(struct file *dev);
long migr_uffd_ioctl(struct file *uffd, u32 cmd, u64 ubuf, void *arg, u32 size);
int migr_copy_to_user(u64 dst, const void *src, u32 len);
long migr_uffd_read(struct file *uffd, struct uffd_msg *msg);
struct file *migr_take_fd(u32 fd);
struct mm_struct *migr_uffd_mm(struct file *uffd);
long migr_uffd_registered(struct file *uffd, u64 *pairs, u32 max);
bool migr_mmget_not_zero(struct mm_struct *mm);
struct mm_struct *migr_mmgrab_current(void);
void migr_mmdrop(struct mm_struct *mm);
bool migr_use_mm(struct mm_struct *mm);
void migr_unuse_mm(struct mm_struct *mm);
const struct cred *migr_creds_kernel_begin(void);
void migr_creds_end(const struct cred *old);
void migr_drain_now(void);
void migr_drain_later(u32 ms);
void migr_drain_stop(void);
void *migr_uffd_watch(struct file *uffd);
void migr_uffd_unwatch(void *watch);
extern const u32 migr_uffdio_api, migr_uffdio_register, migr_uffdio_copy, migr_uffdio_zeropage,
	migr_uffdio_poison, migr_uffdio_wake, migr_uffdio_unregister;
extern const u64 migr_uffd_api, migr_uffd_register_mode_missing, migr_uffd_features;
extern const u8 migr_uffd_event_pagefault, migr_uffd_event_fork, migr_uffd_event_remap,
	migr_uffd_event_remove, migr_uffd_event_unmap;

/* ---- netlink (netlink.c) ---- */
int migr_genl_register(void);
void migr_genl_unregister(void);
int migr_nl_notifier_register(void);
void migr_nl_notifier_unregister(void);
struct sk_buff *migr_msg_reply(struct genl_info *info, void **hdr, size_t size);
struct sk_buff *migr_msg_event(u8 cmd, void **hdr, size_t size);
int migr_msg_put_u32(struct sk_buff *skb, u16 type, u32 value);
int migr_msg_put_u64(struct sk_buff *skb, u16 type, u64 value, u16 pad);
int migr_msg_put(struct sk_buff *skb, u16 type, const void *data, int len);
void *migr_msg_nest_start(struct sk_buff *skb, u16 type);
void migr_msg_nest_end(struct sk_buff *skb, void *nest);
int migr_msg_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info);
int migr_msg_unicast(struct sk_buff *skb, void *hdr, u32 portid);
void migr_msg_free(struct sk_buff *skb);
const struct nlattr *migr_attr(struct genl_info *info, int type);
const struct nlattr *migr_attr_require(struct genl_info *info, int type);
void migr_attr_missing_in(struct genl_info *info, const struct nlattr *nest, int type);
void migr_attr_bad(struct genl_info *info, const struct nlattr *attr);
u32 migr_attr_u32(const struct nlattr *a);
u64 migr_attr_u64(const struct nlattr *a);
const void *migr_attr_data(const struct nlattr *a, int *len);
const struct nlattr *migr_attr_next(struct genl_info *info, const struct nlattr *prev, int type);
int migr_attr_parse_vma(struct genl_info *info, const struct nlattr *nest,
			const struct nlattr **tb, int maxtype);
u32 migr_info_portid(struct genl_info *info);

/* ---- the deputy, all as current (deputy.c) ---- */
int migr_deputy_enter(void);
long migr_deputy_wait(struct wait_queue_head *wq, bool (*cond)(const void *), const void *arg,
		      unsigned long timeout_ms);
int migr_deputy_take_signal(void);
bool migr_deputy_killed(void);
bool migr_deputy_signal_queued(void);
int migr_deputy_stop(int sig);
int migr_install_file(struct file *f);
int migr_deputy_exec(const char *strings, size_t len, int argc, int envc);
void migr_deputy_end_by_signal(int sig, bool core);
int migr_deputy_end_by_exit(int code);

#endif
