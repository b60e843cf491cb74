// SPDX-License-Identifier: GPL-2.0
/*
 * Glue for tasks: lookup, facts, task_work, module references, wait queues, killable
 * sleeps, and the thread state of current (registers, FPU, signals, ids). See glue.h.
 */
#include <linux/elf.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/futex.h>
#include <linux/module.h>
#include <linux/nsproxy.h>
#include <linux/pid_namespace.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/utsname.h>
#include <linux/ipc_namespace.h>
#include <linux/time_namespace.h>
#include <linux/cgroup.h>
#include <net/net_namespace.h>
#include <linux/seccomp.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/regset.h>
#include <linux/rseq.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/wait.h>
#include <asm/fpu/api.h>
#include <asm/fsgsbase.h>
#include <asm/unistd.h>
#include <asm/user.h>
#include "glue.h"

MIGR_LAYOUT(struct migr_task_facts, 20);
MIGR_OFFSET(struct migr_task_facts, ptraced, 16);
MIGR_LAYOUT(struct migr_sigaction, 32);
MIGR_LAYOUT(struct migr_thread_state, 80);
MIGR_OFFSET(struct migr_thread_state, restart, 28);
MIGR_OFFSET(struct migr_thread_state, rseq_sig, 76);
MIGR_LAYOUT(struct migr_nanosleep, 16);
MIGR_OFFSET(struct migr_nanosleep, expires, 8);
/* Rust reads user_regs_struct as 27 u64, ax at 10, orig_ax at 15, ip at 16. */
MIGR_LAYOUT(struct user_regs_struct, 27 * 8);
MIGR_OFFSET(struct user_regs_struct, ax, 10 * 8);
MIGR_OFFSET(struct user_regs_struct, orig_ax, 15 * 8);
MIGR_OFFSET(struct user_regs_struct, ip, 16 * 8);
/* Rust sizes the sigaction table with bindgen's _NSIG. */
static_assert(_NSIG == 64);

/* ---- tasks ---- */

void migr_task_facts(struct task_struct *t, struct migr_task_facts *f)
{
	f->pid = task_pid_vnr(t);
	f->flags = t->flags;
	f->global_init = is_global_init(t);
	f->threads = get_nr_threads(t);
	f->ptraced = !!t->ptrace;
}

MIGR_LAYOUT(struct migr_confinement, 5 * 8 + 8 * 4 + 8);
MIGR_OFFSET(struct migr_confinement, seccomp_filter, 5 * 8 + 8 * 4);
MIGR_OFFSET(struct migr_confinement, foreign_ns, 5 * 8 + 6 * 4);

const u64 migr_cap_valid_mask = CAP_VALID_MASK;

/*
 * Credentials under RCU (__task_cred), namespaces under task_lock (what switch_task_namespaces
 * takes), compared with the initial ones (init_task's; the daemons run there). No decision.
 */
bool migr_task_confinement(struct task_struct *t, struct migr_confinement *c)
{
	struct nsproxy *init_ns = init_task.nsproxy, *ns;
	const struct cred *cred;
	u32 foreign = 0;

	rcu_read_lock();
	cred = __task_cred(t);
	c->cap_inheritable = cred->cap_inheritable.val;
	c->cap_permitted = cred->cap_permitted.val;
	c->cap_effective = cred->cap_effective.val;
	c->cap_bset = cred->cap_bset.val;
	c->cap_ambient = cred->cap_ambient.val;
	c->uid = from_kuid_munged(&init_user_ns, cred->uid);
	c->euid = from_kuid_munged(&init_user_ns, cred->euid);
	c->suid = from_kuid_munged(&init_user_ns, cred->suid);
	c->securebits = cred->securebits;
	if (cred->user_ns != &init_user_ns)
		foreign |= MIGR_NS_USER;
	if (task_active_pid_ns(t) != &init_pid_ns)
		foreign |= MIGR_NS_PID;
	rcu_read_unlock();

#ifdef CONFIG_SECCOMP
	c->seccomp_mode = READ_ONCE(t->seccomp.mode);
#else
	c->seccomp_mode = 0;
#endif
#ifdef CONFIG_SECCOMP_FILTER
	/* Only compared, never followed: a filter is never taken off a task. */
	c->seccomp_filter = (u64)(unsigned long)READ_ONCE(t->seccomp.filter);
#else
	c->seccomp_filter = 0;
#endif
	c->no_new_privs = task_no_new_privs(t);

	task_lock(t);
	ns = t->nsproxy;
	if (!ns) {
		task_unlock(t);
		return false;
	}
	if (ns->uts_ns != init_ns->uts_ns)
		foreign |= MIGR_NS_UTS;
	if (ns->ipc_ns != init_ns->ipc_ns)
		foreign |= MIGR_NS_IPC;
	if (ns->mnt_ns != init_ns->mnt_ns)
		foreign |= MIGR_NS_MNT;
	if (ns->pid_ns_for_children != init_ns->pid_ns_for_children)
		foreign |= MIGR_NS_PID;
	if (ns->net_ns != init_ns->net_ns)
		foreign |= MIGR_NS_NET;
	if (ns->cgroup_ns != init_ns->cgroup_ns)
		foreign |= MIGR_NS_CGROUP;
	if (ns->time_ns != init_ns->time_ns || ns->time_ns_for_children != init_ns->time_ns_for_children)
		foreign |= MIGR_NS_TIME;
	task_unlock(t);
	c->foreign_ns = foreign;
	c->pad = 0;
	return true;
}

/* task_work.h (init_task_work, task_work_add, TWA_*) is not reached by bindgen. */
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
	__init_waitqueue_head(wq, "migr_wq", &migr_wq_key);
}

void migr_wake_all(struct wait_queue_head *wq)
{
	wake_up_all(wq);
}

/* >0 when cond held, 0 on timeout, -ERESTARTSYS on a fatal signal. */
long migr_wait_killable(struct wait_queue_head *wq, bool (*cond)(const void *), const void *arg,
			unsigned long timeout_ms)
{
	/* ULONG_MAX: no time limit (MAX_SCHEDULE_TIMEOUT makes schedule_timeout plain schedule). */
	long jiffies = timeout_ms == ULONG_MAX ? MAX_SCHEDULE_TIMEOUT : msecs_to_jiffies(timeout_ms);

	return wait_event_killable_timeout(*wq, cond(arg), jiffies);
}

/*
 * Sleep ns (killable): 0, or -EINTR on a fatal signal. The clock is read once per round: with
 * a second reading for the remaining time, a round that began just before `end` and read
 * the clock again just after it computed end - now below zero, which as a u64 is a sleep of
 * centuries (seen on a slow node: a page-data doit slept holding its pager's lock, and every
 * fault of the task waited behind it).
 */
long migr_sleep_killable_ns(u64 ns)
{
	u64 end = ktime_get_ns() + ns;

	for (;;) {
		u64 now = ktime_get_ns();

		if (now >= end)
			return 0;
		if (fatal_signal_pending(current))
			return -EINTR;
		schedule_timeout_killable(nsecs_to_jiffies(end - now) + 1);
	}
}

int migr_close_fd(unsigned int fd)
{
	return close_fd(fd);
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

/* Fills everything but restart/restart_remaining_ns (Rust decides those). */
void migr_get_thread_state(struct migr_thread_state *st, struct migr_sigaction *acts)
{
	struct task_struct *t = current;
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

void migr_get_nanosleep(struct migr_nanosleep *ns)
{
	ns->clockid = current->restart_block.nanosleep.clockid;
	ns->pad = 0;
	ns->expires = current->restart_block.nanosleep.expires;
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

		/* The kernel's own invariant (do_sigaction): these two keep SIG_DFL. */
		if (i + 1 == SIGKILL || i + 1 == SIGSTOP)
			continue;
		k->sa.sa_handler = (__sighandler_t)(unsigned long)acts[i].handler;
		k->sa.sa_flags = acts[i].flags;
		k->sa.sa_restorer = (__sigrestore_t)(unsigned long)acts[i].restorer;
		k->sa.sa_mask.sig[0] = acts[i].mask & ~(sigmask(SIGKILL) | sigmask(SIGSTOP));
	}
	spin_unlock_irq(&t->sighand->siglock);
}

/* The flags user mode may set (what arch/x86 FIX_EFLAGS allows). */
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

/* ---- the `fault` module parameter: parsed and printed by Rust (kmod/bind/entry.rs) ---- */
int migr_fault_param_set(const char *val);
int migr_fault_param_get(char *buf, unsigned int size);

static int migr_fault_set(const char *val, const struct kernel_param *kp)
{
	return migr_fault_param_set(val);
}

static int migr_fault_get(char *buf, const struct kernel_param *kp)
{
	return migr_fault_param_get(buf, PAGE_SIZE);
}

static const struct kernel_param_ops migr_fault_ops = {
	.set = migr_fault_set,
	.get = migr_fault_get,
};

module_param_cb(fault, &migr_fault_ops, NULL, 0644);
MODULE_PARM_DESC(fault, "Fault point for tests: none (default), restore-after-unmap, pager-attach");
