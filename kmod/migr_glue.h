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


/* ---- tasks (freeze.rs, checks.rs) ---- */
struct task_struct;
struct callback_head;
struct wait_queue_head;
struct file;
struct mm_struct;

struct migr_task_facts {
	s32 pid;		/* pid in the caller's namespace, 0 if none */
	u32 kernel_thread;
	u32 init;		/* pid 1 of its namespace */
	u32 threads;
	u32 ptraced;
	u32 exiting;
};

struct task_struct *migr_get_task(s32 pid);
void migr_put_task(struct task_struct *t);
struct task_struct *migr_current(void);
void migr_task_facts(struct task_struct *t, struct migr_task_facts *f);
int migr_task_work_add(struct task_struct *t, struct callback_head *work,
		       void (*func)(struct callback_head *), bool notify_signal);
bool migr_current_exiting(void);
bool migr_fatal_signal_pending(void);
void migr_kill_current(void);
bool migr_try_module_get(void);
void migr_module_put(void);

void migr_waitqueue_init(struct wait_queue_head *wq);
void migr_wake_all(struct wait_queue_head *wq);
/* Sleep (killable) until cond(arg) or timeout; returns >0 when cond held, 0 on timeout,
 * -ERESTARTSYS on a fatal signal. */
long migr_wait_killable(struct wait_queue_head *wq, bool (*cond)(const void *), const void *arg,
			unsigned long timeout_ms);

/* ---- thread state of current (dump.rs, restore.rs) ---- */
struct migr_sigaction {
	u64 handler, flags, restorer, mask;
};

struct migr_thread_state {
	u64 sigmask;
	u64 sas_sp, sas_size;
	u32 sas_flags;
	u32 restart;		/* enum migr_restart */
	u64 restart_remaining_ns;
	u64 clear_child_tid;
	u64 robust_list, robust_list_len;
	u64 rseq;
	u32 rseq_len, rseq_sig;
};

int migr_get_regs(void *buf, unsigned int size);
int migr_xstate_size(void);
int migr_get_xstate(void *buf, unsigned int size);
void migr_get_thread_state(struct migr_thread_state *st, struct migr_sigaction *acts);
void migr_set_thread_state(const struct migr_thread_state *st, const struct migr_sigaction *acts);
int migr_set_regs(const void *buf, unsigned int size);
int migr_set_xstate(const void *buf, unsigned int size);
int migr_set_sigmask(u64 mask);
void migr_get_comm(char *buf, unsigned int size);

/* ---- address space (dump.rs, restore.rs) ---- */
struct migr_mm_fields {
	u64 start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
	u64 arg_start, arg_end, env_start, env_end, vdso;
};

struct migr_vma_info {
	u64 start, end, flags, pgoff;
	u32 kind;		/* enum migr_vma_kind */
	u32 has_file;
};

struct mm_struct *migr_task_mm(struct task_struct *t);	/* takes a reference */
void migr_mmput(struct mm_struct *mm);
void migr_mmap_read_lock(struct mm_struct *mm);
void migr_mmap_read_unlock(struct mm_struct *mm);
/* First VMA ending above addr; 0 if none. path (may be NULL) gets the file's path. */
int migr_vma_at(struct mm_struct *mm, u64 addr, struct migr_vma_info *v, char *path,
		unsigned int path_size);
void migr_get_mm_fields(struct mm_struct *mm, struct migr_mm_fields *f);
void migr_set_mm_fields(struct mm_struct *mm, const struct migr_mm_fields *f);
int migr_get_auxv(struct mm_struct *mm, u64 *buf, unsigned int n);
void migr_set_auxv(struct mm_struct *mm, const u64 *buf, unsigned int n);
u64 migr_vm_flags_user_mask(void);
long migr_map_anon(u64 start, u64 len, u64 vm_flags);
long migr_map_file(const char *path, u64 start, u64 len, u64 vm_flags, u64 pgoff);
int migr_vma_add_flags(u64 start, u64 flags);
int migr_unmap(u64 start, u64 len);

/* ---- restore session fd (restore.rs) ---- */
int migr_restore_fd_install(void *session, bool control);
int migr_freeze_fd_install(void *session);
int migr_close_fd(unsigned int fd);
long migr_sleep_killable_ns(u64 ns);

/* ---- netlink attribute access (netlink.rs) ---- */
struct nlattr;
const struct nlattr *migr_attr(struct genl_info *info, int type);
u32 migr_attr_u32(const struct nlattr *a);
u64 migr_attr_u64(const struct nlattr *a);
const void *migr_attr_data(const struct nlattr *a, int *len);
/* Next attribute of the given type at the top level of the request, after prev (NULL: first). */
const struct nlattr *migr_attr_next(struct genl_info *info, const struct nlattr *prev, int type);
int migr_attr_parse_vma(const struct nlattr *nest, const struct nlattr **tb, int maxtype);
struct sk_buff *migr_reply_new_size(struct genl_info *info, void **hdr, size_t size);
void *migr_reply_nest_start(struct sk_buff *skb, u16 type);
void migr_reply_nest_end(struct sk_buff *skb, void *nest);
int migr_reply_put(struct sk_buff *skb, u16 type, const void *data, int len);


/* ---- remote pager (pager.rs) ---- */
struct xarray;
struct page;
void migr_xa_init(struct xarray *xa);
void migr_xa_destroy_pages(struct xarray *xa);
int migr_xa_take(struct xarray *xa, unsigned long pgoff, struct page **page, bool keep);
bool migr_xa_present(struct xarray *xa, unsigned long pgoff);
int migr_xa_fill(struct xarray *xa, unsigned long pgoff, const void *data);
struct page *migr_zero_page(void);
struct file *migr_pager_file(void *pager);
void migr_fput(struct file *file);
long migr_map_pager(struct file *file, u64 start, u64 len, u64 vm_flags);
int migr_touch_write(u64 addr);
int migr_pager_notify(u32 portid, u32 pid, u64 addr, u32 faults);
u32 migr_info_portid(struct genl_info *info);
void *migr_pager_watch(void *pager);
void migr_pager_unwatch(void *watch, struct mm_struct *unused);
void migr_xa_discard(struct xarray *xa, unsigned long pgoff, unsigned long count);

#endif
