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

struct sk_buff *migr_reply_new(struct genl_info *info, void **hdr)
{
	return migr_reply_new_size(info, hdr, NLMSG_GOODSIZE);
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

/* ======================================================================================
 * Everything below: accessors for what Rust cannot reach in 6.12 (inlines, macros,
 * config-dependent fields). The freeze/dump/restore logic is in freeze.rs, dump.rs and
 * restore.rs.
 * ====================================================================================== */
#include <linux/anon_inodes.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/regset.h>
#include <linux/rseq.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/wait.h>
#include <linux/elf.h>
#include <linux/futex.h>
#include <linux/ptrace.h>
#include <asm/fpu/api.h>
#include <asm/fsgsbase.h>
#include <asm/unistd.h>
#include <asm/user.h>
#include <uapi/linux/migr.h>

/* ---- tasks ---- */

struct task_struct *migr_get_task(s32 nr)
{
	struct pid *pid = find_get_pid(nr);
	struct task_struct *t;

	if (!pid)
		return NULL;
	t = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	return t;
}

void migr_put_task(struct task_struct *t)
{
	put_task_struct(t);
}

struct task_struct *migr_current(void)
{
	return current;
}

void migr_task_facts(struct task_struct *t, struct migr_task_facts *f)
{
	f->pid = task_pid_vnr(t);
	f->kernel_thread = !!(t->flags & (PF_KTHREAD | PF_USER_WORKER));
	f->init = task_pid_vnr(t) == 1 || is_global_init(t);
	f->threads = get_nr_threads(t);
	f->ptraced = !!t->ptrace;
	f->exiting = !!(t->flags & PF_EXITING);
}

int migr_task_work_add(struct task_struct *t, struct callback_head *work,
		       void (*func)(struct callback_head *), bool notify_signal)
{
	init_task_work(work, func);
	return task_work_add(t, work, notify_signal ? TWA_SIGNAL : TWA_RESUME);
}

bool migr_current_exiting(void)
{
	return current->flags & PF_EXITING;
}

bool migr_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

void migr_kill_current(void)
{
	send_sig(SIGKILL, current, 1);
}

bool migr_try_module_get(void)
{
	return try_module_get(THIS_MODULE);
}

void migr_module_put(void)
{
	module_put(THIS_MODULE);
}

static struct lock_class_key migr_wq_key;

void migr_waitqueue_init(struct wait_queue_head *wq)
{
	__init_waitqueue_head(wq, "migr_session", &migr_wq_key);
}

void migr_wake_all(struct wait_queue_head *wq)
{
	wake_up_all(wq);
}

long migr_wait_killable(struct wait_queue_head *wq, bool (*cond)(const void *), const void *arg,
			unsigned long timeout_ms)
{
	return wait_event_killable_timeout(*wq, cond(arg), msecs_to_jiffies(timeout_ms));
}

/* ---- thread state of current ---- */

static const struct user_regset *migr_regset(unsigned int note)
{
	const struct user_regset_view *view = task_user_regset_view(current);
	unsigned int i;

	for (i = 0; i < view->n; i++)
		if (view->regsets[i].core_note_type == note)
			return &view->regsets[i];
	return NULL;
}

int migr_get_regs(void *buf, unsigned int size)
{
	const struct user_regset *rs = migr_regset(NT_PRSTATUS);

	if (!rs || size != sizeof(struct user_regs_struct))
		return -EINVAL;
	return regset_get(current, rs, size, buf);
}

int migr_xstate_size(void)
{
	const struct user_regset *rs = migr_regset(NT_X86_XSTATE);

	return rs ? rs->n * rs->size : -ENODEV;
}

int migr_get_xstate(void *buf, unsigned int size)
{
	const struct user_regset *rs = migr_regset(NT_X86_XSTATE);

	if (!rs || size != rs->n * rs->size)
		return -EINVAL;
	return regset_get(current, rs, size, buf);
}

static u64 migr_clock_now(clockid_t id)
{
	switch (id) {
	case CLOCK_REALTIME:
		return ktime_get_real_ns();
	case CLOCK_BOOTTIME:
		return ktime_get_boottime_ns();
	case CLOCK_TAI:
		return ktime_get_clocktai_ns();
	default:
		return ktime_get_ns();
	}
}

void migr_get_thread_state(struct migr_thread_state *st, struct migr_sigaction *acts)
{
	struct task_struct *t = current;
	struct pt_regs *regs = current_pt_regs();
	int i;

	memset(st, 0, sizeof(*st));
	/* sigsuspend/ppoll/pselect run with a temporary mask; user mode will see the saved one. */
	st->sigmask = test_restore_sigmask() ? t->saved_sigmask.sig[0] : t->blocked.sig[0];
	st->sas_sp = t->sas_ss_sp;
	st->sas_size = t->sas_ss_size;
	st->sas_flags = t->sas_ss_flags;
	st->clear_child_tid = (unsigned long)t->clear_child_tid;
#ifdef CONFIG_FUTEX
	st->robust_list = (unsigned long)t->robust_list;
	st->robust_list_len = t->robust_list ? sizeof(struct robust_list_head) : 0;
#endif
#ifdef CONFIG_RSEQ
	st->rseq = (unsigned long)t->rseq;
	st->rseq_len = t->rseq_len;
	st->rseq_sig = t->rseq_sig;
#endif
	/* A relative nanosleep interrupted by the freeze: its restart block says when it ends. */
	if ((regs->ax == -ERESTART_RESTARTBLOCK || regs->ax == __NR_restart_syscall) &&
	    (regs->orig_ax == __NR_nanosleep || regs->orig_ax == __NR_clock_nanosleep)) {
		u64 now = migr_clock_now(t->restart_block.nanosleep.clockid);
		u64 exp = t->restart_block.nanosleep.expires;

		st->restart = MIGR_RESTART_NANOSLEEP;
		st->restart_remaining_ns = exp > now ? exp - now : 0;
	}

	spin_lock_irq(&t->sighand->siglock);
	for (i = 0; i < _NSIG; i++) {
		struct k_sigaction *k = &t->sighand->action[i];

		acts[i].handler = (unsigned long)k->sa.sa_handler;
		acts[i].flags = k->sa.sa_flags;
		acts[i].restorer = (unsigned long)k->sa.sa_restorer;
		acts[i].mask = k->sa.sa_mask.sig[0];
	}
	spin_unlock_irq(&t->sighand->siglock);
}

void migr_set_thread_state(const struct migr_thread_state *st, const struct migr_sigaction *acts)
{
	struct task_struct *t = current;
	int i;

	t->sas_ss_sp = st->sas_sp;
	t->sas_ss_size = st->sas_size;
	t->sas_ss_flags = st->sas_flags;
	t->clear_child_tid = (int __user *)(unsigned long)st->clear_child_tid;
#ifdef CONFIG_FUTEX
	t->robust_list = (struct robust_list_head __user *)(unsigned long)st->robust_list;
#endif
#ifdef CONFIG_RSEQ
	t->rseq = (struct rseq __user *)(unsigned long)st->rseq;
	t->rseq_len = st->rseq_len;
	t->rseq_sig = st->rseq_sig;
	t->rseq_event_mask = 0;
	rseq_set_notify_resume(t);
#endif
	spin_lock_irq(&t->sighand->siglock);
	for (i = 0; i < _NSIG; i++) {
		struct k_sigaction *k = &t->sighand->action[i];

		if (i + 1 == SIGKILL || i + 1 == SIGSTOP)
			continue;
		k->sa.sa_handler = (__sighandler_t)(unsigned long)acts[i].handler;
		k->sa.sa_flags = acts[i].flags;
		k->sa.sa_restorer = (__sigrestore_t)(unsigned long)acts[i].restorer;
		k->sa.sa_mask.sig[0] = acts[i].mask & ~(sigmask(SIGKILL) | sigmask(SIGSTOP));
	}
	spin_unlock_irq(&t->sighand->siglock);
}

#define MIGR_FLAG_MASK (X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | X86_EFLAGS_ZF | \
			X86_EFLAGS_SF | X86_EFLAGS_TF | X86_EFLAGS_DF | X86_EFLAGS_OF | \
			X86_EFLAGS_RF | X86_EFLAGS_AC | X86_EFLAGS_NT)

/* Runs in a TWA_RESUME task_work of current, after the syscall return value is stored,
 * so nothing overwrites these before the return to user mode (which uses IRET since
 * rcx/r11 no longer match). */
int migr_set_regs(const void *buf, unsigned int size)
{
	const struct user_regs_struct *u = buf;
	struct pt_regs *r = current_pt_regs();

	if (size != sizeof(*u) || u->fs_base >= TASK_SIZE_MAX || u->gs_base >= TASK_SIZE_MAX)
		return -EINVAL;
	r->r15 = u->r15; r->r14 = u->r14; r->r13 = u->r13; r->r12 = u->r12;
	r->bp = u->bp; r->bx = u->bx; r->r11 = u->r11; r->r10 = u->r10;
	r->r9 = u->r9; r->r8 = u->r8; r->ax = u->ax; r->cx = u->cx;
	r->dx = u->dx; r->si = u->si; r->di = u->di;
	r->orig_ax = -1;
	r->ip = u->ip;
	r->sp = u->sp;
	r->cs = __USER_CS;
	r->ss = __USER_DS;
	r->flags = (r->flags & ~MIGR_FLAG_MASK) | (u->flags & MIGR_FLAG_MASK);

	/* What arch_prctl(ARCH_SET_FS) does for current (do_arch_prctl_64 is not exported). */
	preempt_disable();
	loadsegment(fs, 0);
	x86_fsbase_write_cpu(u->fs_base);
	current->thread.fsbase = u->fs_base;
	current->thread.fsindex = 0;
	preempt_enable();
	return 0;
}

int migr_set_xstate(const void *buf, unsigned int size)
{
	const struct user_regset *rs = migr_regset(NT_X86_XSTATE);

	if (!rs || !rs->set || size != rs->n * rs->size)
		return -EINVAL;
	/* Save the live user FPU registers to fpstate and set TIF_NEED_FPU_LOAD, so that the
	 * registers are reloaded from fpstate (which ->set replaces) on return to user. */
	kernel_fpu_begin_mask(0);
	kernel_fpu_end();
	return rs->set(current, rs, 0, size, buf, NULL);
}

int migr_set_sigmask(u64 mask)
{
	sigset_t set;

	siginitset(&set, mask & ~(sigmask(SIGKILL) | sigmask(SIGSTOP)));
	return sigprocmask(SIG_SETMASK, &set, NULL);
}

void migr_get_comm(char *buf, unsigned int size)
{
	char comm[TASK_COMM_LEN];

	get_task_comm(comm, current);
	strscpy(buf, comm, size);
}

/* ---- address space ---- */

struct mm_struct *migr_task_mm(struct task_struct *t)
{
	return get_task_mm(t);
}

void migr_mmput(struct mm_struct *mm)
{
	mmput(mm);
}

void migr_mmap_read_lock(struct mm_struct *mm)
{
	mmap_read_lock(mm);
}

void migr_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

/* Caller holds mmap_read_lock(mm). */
int migr_vma_at(struct mm_struct *mm, u64 addr, struct migr_vma_info *v, char *path,
		unsigned int path_size)
{
	struct vm_area_struct *vma = find_vma(mm, addr);
	unsigned long vdso = (unsigned long)mm->context.vdso;

	if (!vma)
		return 0;
	v->start = vma->vm_start;
	v->end = vma->vm_end;
	v->flags = vma->vm_flags;
	v->pgoff = vma->vm_pgoff;
	v->has_file = !!vma->vm_file;
	if (vma->vm_file)
		v->kind = MIGR_VMA_KIND_FILE;
	else if (vma->vm_start == vdso)
		v->kind = MIGR_VMA_KIND_VDSO;
	else if (vma->vm_end == vdso && (vma->vm_flags & (VM_PFNMAP | VM_MIXEDMAP | VM_IO)))
		v->kind = MIGR_VMA_KIND_VVAR;
	else if (vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk)
		v->kind = MIGR_VMA_KIND_HEAP;
	else if (vma->vm_start <= mm->start_stack && vma->vm_end >= mm->start_stack)
		v->kind = MIGR_VMA_KIND_STACK;
	else
		v->kind = MIGR_VMA_KIND_ANON;
	if (path && path_size) {
		path[0] = 0;
		if (vma->vm_file) {
			char *p = d_path(&vma->vm_file->f_path, path, path_size);

			if (IS_ERR(p))
				return PTR_ERR(p);
			memmove(path, p, strlen(p) + 1);
		}
	}
	return 1;
}

void migr_get_mm_fields(struct mm_struct *mm, struct migr_mm_fields *f)
{
	spin_lock(&mm->arg_lock);
	f->start_code = mm->start_code;
	f->end_code = mm->end_code;
	f->start_data = mm->start_data;
	f->end_data = mm->end_data;
	f->start_brk = mm->start_brk;
	f->brk = mm->brk;
	f->start_stack = mm->start_stack;
	f->arg_start = mm->arg_start;
	f->arg_end = mm->arg_end;
	f->env_start = mm->env_start;
	f->env_end = mm->env_end;
	spin_unlock(&mm->arg_lock);
	f->vdso = (unsigned long)mm->context.vdso;
}

/* As prctl_set_mm_map (kernel/sys.c): mmap read lock plus arg_lock. */
void migr_set_mm_fields(struct mm_struct *mm, const struct migr_mm_fields *f)
{
	mmap_read_lock(mm);
	spin_lock(&mm->arg_lock);
	mm->start_code = f->start_code;
	mm->end_code = f->end_code;
	mm->start_data = f->start_data;
	mm->end_data = f->end_data;
	mm->start_brk = f->start_brk;
	mm->brk = f->brk;
	mm->start_stack = f->start_stack;
	mm->arg_start = f->arg_start;
	mm->arg_end = f->arg_end;
	mm->env_start = f->env_start;
	mm->env_end = f->env_end;
	spin_unlock(&mm->arg_lock);
	mmap_read_unlock(mm);
}

int migr_get_auxv(struct mm_struct *mm, u64 *buf, unsigned int n)
{
	unsigned int i, cnt = min_t(unsigned int, n, ARRAY_SIZE(mm->saved_auxv));

	for (i = 0; i < cnt; i++)
		buf[i] = mm->saved_auxv[i];
	return cnt;
}

void migr_set_auxv(struct mm_struct *mm, const u64 *buf, unsigned int n)
{
	unsigned int i, cnt = min_t(unsigned int, n, ARRAY_SIZE(mm->saved_auxv));

	task_lock(current);
	for (i = 0; i < ARRAY_SIZE(mm->saved_auxv); i++)
		mm->saved_auxv[i] = i < cnt ? buf[i] : 0;
	task_unlock(current);
}

static unsigned long migr_prot(u64 vm_flags)
{
	return ((vm_flags & VM_READ) ? PROT_READ : 0) | ((vm_flags & VM_WRITE) ? PROT_WRITE : 0) |
	       ((vm_flags & VM_EXEC) ? PROT_EXEC : 0);
}

static long migr_mapped(unsigned long got, u64 want)
{
	if (IS_ERR_VALUE(got))
		return (long)got;
	return got == want ? 0 : -EADDRNOTAVAIL;
}

long migr_map_anon(u64 start, u64 len, u64 vm_flags)
{
	unsigned long flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

	if (vm_flags & VM_GROWSDOWN)
		flags |= MAP_GROWSDOWN;
	if (vm_flags & VM_NORESERVE)
		flags |= MAP_NORESERVE;
	return migr_mapped(vm_mmap(NULL, start, len, migr_prot(vm_flags), flags, 0), start);
}

long migr_map_file(const char *path, u64 start, u64 len, u64 vm_flags, u64 pgoff)
{
	struct file *f = filp_open(path, O_RDONLY | O_LARGEFILE, 0);
	unsigned long got;

	if (IS_ERR(f))
		return PTR_ERR(f);
	got = vm_mmap(f, start, len, migr_prot(vm_flags), MAP_PRIVATE | MAP_FIXED,
		      pgoff << PAGE_SHIFT);
	fput(f);
	return migr_mapped(got, start);
}

/* madvise-only flags of a mapping of current (do_madvise is not exported). */
int migr_vma_add_flags(u64 start, u64 flags)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	int ret = -ENOENT;

	flags &= VM_DONTCOPY | VM_DONTDUMP | VM_WIPEONFORK;
	if (mmap_write_lock_killable(mm))
		return -EINTR;
	vma = find_vma(mm, start);
	if (vma && vma->vm_start == start) {
		vm_flags_set(vma, flags);
		ret = 0;
	}
	mmap_write_unlock(mm);
	return ret;
}

int migr_unmap(u64 start, u64 len)
{
	return vm_munmap(start, len);
}

/* ---- restore session fd ---- */

/* Defined in restore.rs and freeze.rs. */
long migr_restore_ioctl(void *session, unsigned int cmd, unsigned long arg);
__poll_t migr_restore_poll(void *session);
struct wait_queue_head *migr_restore_waitqueue(void *session);
void migr_restore_release(void *session, bool control);
void migr_freeze_release(void *session);

static long migr_restore_fop_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	return migr_restore_ioctl(f->private_data, cmd, arg);
}

static __poll_t migr_restore_fop_poll(struct file *f, struct poll_table_struct *pt)
{
	poll_wait(f, migr_restore_waitqueue(f->private_data), pt);
	return migr_restore_poll(f->private_data);
}

static int migr_restore_ctl_fop_release(struct inode *inode, struct file *f)
{
	migr_restore_release(f->private_data, true);
	return 0;
}

static int migr_restore_stub_fop_release(struct inode *inode, struct file *f)
{
	migr_restore_release(f->private_data, false);
	return 0;
}

static int migr_freeze_fop_release(struct inode *inode, struct file *f)
{
	migr_freeze_release(f->private_data);
	return 0;
}

/* Two files per restore session: closing the daemon's (control) aborts a restore that has
 * not started running; the stub's one only drops its reference. */
static const struct file_operations migr_restore_ctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = migr_restore_fop_ioctl,
	.poll = migr_restore_fop_poll,
	.release = migr_restore_ctl_fop_release,
	.llseek = noop_llseek,
};

static const struct file_operations migr_restore_stub_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = migr_restore_fop_ioctl,
	.release = migr_restore_stub_fop_release,
	.llseek = noop_llseek,
};

static const struct file_operations migr_freeze_fops = {
	.owner = THIS_MODULE,
	.release = migr_freeze_fop_release,
	.llseek = noop_llseek,
};

int migr_restore_fd_install(void *session, bool control)
{
	return anon_inode_getfd(control ? "[migr-restore]" : "[migr-stub]",
				control ? &migr_restore_ctl_fops : &migr_restore_stub_fops,
				session, O_RDWR | O_CLOEXEC);
}

int migr_freeze_fd_install(void *session)
{
	return anon_inode_getfd("[migr-frozen]", &migr_freeze_fops, session, O_RDONLY | O_CLOEXEC);
}

int migr_close_fd(unsigned int fd)
{
	return close_fd(fd);
}

long migr_sleep_killable_ns(u64 ns)
{
	u64 end = ktime_get_ns() + ns;

	while (ktime_get_ns() < end) {
		if (fatal_signal_pending(current))
			return -EINTR;
		schedule_timeout_killable(nsecs_to_jiffies(end - ktime_get_ns()) + 1);
	}
	return 0;
}

/* ---- netlink attributes ---- */

const struct nlattr *migr_attr(struct genl_info *info, int type)
{
	return info->attrs[type];
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

int migr_attr_parse_vma(const struct nlattr *nest, const struct nlattr **tb, int maxtype)
{
	return nla_parse_nested((struct nlattr **)tb, maxtype, nest, migr_vma_nl_policy, NULL);
}

/* Process context (a doit): may sleep, hence GFP_KERNEL. */
struct sk_buff *migr_reply_new_size(struct genl_info *info, void **hdr, size_t size)
{
	struct sk_buff *skb = genlmsg_new(size, GFP_KERNEL);

	if (!skb)
		return NULL;
	*hdr = genlmsg_iput(skb, info);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

void *migr_reply_nest_start(struct sk_buff *skb, u16 type)
{
	return nla_nest_start(skb, type);
}

void migr_reply_nest_end(struct sk_buff *skb, void *nest)
{
	nla_nest_end(skb, nest);
}

int migr_reply_put(struct sk_buff *skb, u16 type, const void *data, int len)
{
	return nla_put(skb, type, len, data);
}

/* ---- remote pager (pager.rs) ---- */
#include <linux/highmem.h>
#include <linux/xarray.h>
#include <net/net_namespace.h>

/* Defined in pager.rs. */
int migr_pager_lookup(void *pager, unsigned long pgoff, struct page **page);
void migr_pager_wait(void *pager, unsigned long pgoff);
void migr_pager_file_release(void *pager);

#define MIGR_SERVED xa_mk_value(1)

void migr_xa_init(struct xarray *xa)
{
	xa_init(xa);
}

/* Drop every page still held and the array itself. No other user remains. */
void migr_xa_destroy_pages(struct xarray *xa)
{
	unsigned long index;
	void *entry;

	xa_for_each(xa, index, entry)
		if (!xa_is_value(entry))
			put_page(entry);
	xa_destroy(xa);
}

/*
 * Take the page at pgoff for a fault: 0 and *page (the array's reference moves to the
 * caller and the slot becomes SERVED; with keep, the caller gets a new reference and the
 * page stays), 1 if it was served before, 2 if absent.
 */
int migr_xa_take(struct xarray *xa, unsigned long pgoff, struct page **page, bool keep)
{
	void *entry;
	int ret;

	xa_lock(xa);
	entry = xa_load(xa, pgoff);
	if (!entry) {
		ret = 2;
	} else if (xa_is_value(entry)) {
		ret = 1;
	} else if (keep) {
		/* Several address spaces (fork) may still fault on it: lend a reference. */
		get_page(entry);
		*page = entry;
		ret = 0;
	} else {
		/* Replacing a present entry does not allocate. */
		__xa_store(xa, pgoff, MIGR_SERVED, GFP_ATOMIC);
		*page = entry;
		ret = 0;
	}
	xa_unlock(xa);
	return ret;
}

bool migr_xa_present(struct xarray *xa, unsigned long pgoff)
{
	return xa_load(xa, pgoff) != NULL;
}

/* Store a copy of data at pgoff unless something is there: 1 stored, 0 ignored, <0 error. */
int migr_xa_fill(struct xarray *xa, unsigned long pgoff, const void *data)
{
	struct page *page;
	void *old;

	if (xa_load(xa, pgoff))
		return 0;
	page = alloc_page(GFP_HIGHUSER);
	if (!page)
		return -ENOMEM;
	memcpy_to_page(page, 0, data, PAGE_SIZE);
	old = xa_cmpxchg(xa, pgoff, NULL, page, GFP_KERNEL);
	if (old) {
		put_page(page);
		return xa_is_err(old) ? xa_err(old) : 0;
	}
	return 1;
}

/* A zeroed page for a fault on memory the source never had, or that was served before. */
struct page *migr_zero_page(void)
{
	return alloc_page(GFP_HIGHUSER | __GFP_ZERO);
}

/*
 * The fault handler. The decisions are in pager.rs; this is the mm protocol around them:
 * when the page must come from the network, drop the mmap/VMA lock (filemap's
 * maybe_unlock_mmap_for_io pattern, with the file pinned so the pager stays alive), wait,
 * and let the core retry. Paths that may not retry (ptrace, /proc/PID/mem) wait holding it.
 */
static vm_fault_t migr_pager_fault(struct vm_fault *vmf)
{
	void *pager = vmf->vma->vm_file->private_data;
	unsigned long pgoff = vmf->pgoff;
	struct page *page = NULL;
	struct file *file;
	int r;

	r = migr_pager_lookup(pager, pgoff, &page);
	if (r == 0) {
		vmf->page = page;
		return 0;
	}
	if (r < 0)
		return r == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
		return VM_FAULT_RETRY;
	if (vmf->flags & FAULT_FLAG_ALLOW_RETRY) {
		file = get_file(vmf->vma->vm_file);
		release_fault_lock(vmf);
		migr_pager_wait(pager, pgoff);
		fput(file);
		return VM_FAULT_RETRY;
	}
	migr_pager_wait(pager, pgoff);
	r = migr_pager_lookup(pager, pgoff, &page);
	if (r == 0) {
		vmf->page = page;
		return 0;
	}
	return VM_FAULT_SIGBUS;
}

void migr_pager_forked(void *pager);

/* Called on split, mremap and fork; only fork copies the mapping into another mm (dup_mmap
 * runs in the parent, so the new VMA's mm is not current's). */
static void migr_pager_vm_open(struct vm_area_struct *vma)
{
	if (vma->vm_mm != current->mm)
		migr_pager_forked(vma->vm_file->private_data);
}

static const struct vm_operations_struct migr_pager_vm_ops = {
	.open = migr_pager_vm_open,
	.fault = migr_pager_fault,
};

static int migr_pager_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* Growing a mapping would expose other regions' page offsets. */
	vm_flags_set(vma, VM_DONTEXPAND);
	vma->vm_ops = &migr_pager_vm_ops;
	return 0;
}

static int migr_pager_release(struct inode *inode, struct file *file)
{
	migr_pager_file_release(file->private_data);
	return 0;
}

static const struct file_operations migr_pager_fops = {
	.owner = THIS_MODULE,
	.mmap = migr_pager_mmap,
	.release = migr_pager_release,
	.llseek = noop_llseek,
};

/* One inode per pager, so nothing else shares its address space. */
struct file *migr_pager_file(void *pager)
{
	return anon_inode_create_getfile("[migr-pager]", &migr_pager_fops, pager, O_RDWR, NULL);
}

void migr_fput(struct file *file)
{
	fput(file);
}

long migr_map_pager(struct file *file, u64 start, u64 len, u64 vm_flags)
{
	return migr_mapped(vm_mmap(file, start, len, migr_prot(vm_flags),
				   MAP_PRIVATE | MAP_FIXED, start), start);
}

/* Write one byte of current's memory onto itself: a copy-on-write that gives the mapping
 * its anon_vma, so that fork copies its page table entries. */
int migr_touch_write(u64 addr)
{
	u8 b;

	if (copy_from_user(&b, (const void __user *)addr, 1) ||
	    copy_to_user((void __user *)addr, &b, 1))
		return -EFAULT;
	return 0;
}

/* page-request event to the listening daemon (initial netns); never blocks. */
int migr_pager_notify(u32 portid, u32 pid, u64 addr, u32 faults)
{
	struct sk_buff *skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	void *hdr;

	if (!skb)
		return -ENOMEM;
	hdr = genlmsg_put(skb, 0, 0, &migr_nl_family, 0, MIGR_CMD_PAGE_REQUEST);
	if (!hdr || nla_put_u32(skb, MIGR_A_PAGER_PID, pid) ||
	    nla_put_u64_64bit(skb, MIGR_A_PAGER_ADDR, addr, MIGR_A_PAGER_PAD) ||
	    nla_put_u32(skb, MIGR_A_PAGER_FAULTS, faults)) {
		nlmsg_free(skb);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return genlmsg_unicast(&init_net, skb, portid);
}

u32 migr_info_portid(struct genl_info *info)
{
	return info->snd_portid;
}

/*
 * MADV_DONTNEED on a lazy range: the pages must read back as zeros afterwards, including
 * those the task never touched since it arrived (no PTE to zap, still at the source). An
 * MMU notifier sees the zap (MMU_NOTIFY_CLEAR) and the pager marks the range served. The
 * zapper holds the VMA (mmap lock or per-VMA lock), so the VMA walk under RCU is stable
 * for the range; nothing here sleeps.
 */
#ifdef CONFIG_MMU_NOTIFIER
#include <linux/mmu_notifier.h>

void migr_pager_discard(void *pager, unsigned long pgoff, unsigned long count);

struct migr_watch {
	struct mmu_notifier mn;
	void *pager;
};

static int migr_watch_invalidate(struct mmu_notifier *mn, const struct mmu_notifier_range *r)
{
	struct migr_watch *w = container_of(mn, struct migr_watch, mn);
	unsigned long addr = r->start;

	if (r->event != MMU_NOTIFY_CLEAR)
		return 0;
	rcu_read_lock();
	while (addr < r->end) {
		unsigned long index = addr, s, e;
		struct vm_area_struct *vma = mt_find(&r->mm->mm_mt, &index, r->end - 1);

		if (!vma)
			break;
		s = max(addr, vma->vm_start);
		e = min(r->end, vma->vm_end);
		if (vma->vm_ops == &migr_pager_vm_ops && vma->vm_file->private_data == w->pager)
			migr_pager_discard(w->pager, vma->vm_pgoff + ((s - vma->vm_start) >> PAGE_SHIFT),
					   (e - s) >> PAGE_SHIFT);
		addr = vma->vm_end;
	}
	rcu_read_unlock();
	return 0;
}

static const struct mmu_notifier_ops migr_watch_ops = {
	.invalidate_range_start = migr_watch_invalidate,
};

/* Watch current's mm for the pager; NULL if that fails (then DONTNEED is not seen). */
void *migr_pager_watch(void *pager)
{
	struct migr_watch *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	w->pager = pager;
	w->mn.ops = &migr_watch_ops;
	if (mmu_notifier_register(&w->mn, current->mm)) {
		kfree(w);
		return NULL;
	}
	return w;
}

/* May sleep (SRCU): waits for callbacks in flight. */
void migr_pager_unwatch(void *watch, struct mm_struct *unused)
{
	struct migr_watch *w = watch;

	if (!w)
		return;
	mmu_notifier_unregister(&w->mn, w->mn.mm);
	kfree(w);
}
#else
void *migr_pager_watch(void *pager)
{
	return NULL;
}

void migr_pager_unwatch(void *watch, struct mm_struct *unused)
{
}
#endif

/* Mark [pgoff, pgoff + count) served: drop held pages; absent ones become SERVED (best
 * effort: no allocation that could sleep). */
void migr_xa_discard(struct xarray *xa, unsigned long pgoff, unsigned long count)
{
	unsigned long i;

	for (i = pgoff; i < pgoff + count; i++) {
		void *old = xa_store(xa, i, MIGR_SERVED, GFP_NOWAIT);

		if (old && !xa_is_value(old) && !xa_is_err(old))
			put_page(old);
	}
}
