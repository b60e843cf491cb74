// SPDX-License-Identifier: GPL-2.0
/*
 * Glue for the deputy (kmod/deputy.rs): a task, parked in its own task work after its copy
 * runs on another node, that keeps its pid and family and hands on every signal it is sent.
 * Every function here runs as that task (current), in process context, no lock held.
 * See glue.h.
 */
#include <linux/mm.h>
#include <linux/ptrace.h>
#include <linux/mman.h>
#include <linux/resource.h>
#include <linux/rseq.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/signal.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/pid_namespace.h>
#include <linux/sched/jobctl.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <asm/ptrace.h>
#include <asm/unistd.h>
#include "glue.h"

/*
 * Become a deputy: drop every user mapping (the copy has the memory now), forget the user
 * pointers the exit path would follow into it, and take every signal but SIGKILL out of
 * the kernel's hands: with all of them in real_blocked (as sigtimedwait does for the ones
 * it waits for), none is discarded as ignored when sent and none turns into a group exit,
 * so each stays queued until migr_deputy_take_signal hands it on. blocked is emptied so
 * that every signal wakes the deputy's interruptible sleep. Returns vm_munmap's result
 * (memory that cannot be dropped, a sealed mapping, only costs memory).
 */
int migr_deputy_enter(void)
{
	struct task_struct *t = current;
	int err;

#ifdef CONFIG_RSEQ
	t->rseq = NULL;
	t->rseq_len = 0;
	t->rseq_sig = 0;
#endif
#ifdef CONFIG_FUTEX
	t->robust_list = NULL;
#ifdef CONFIG_COMPAT
	t->compat_robust_list = NULL;
#endif
#endif
	t->clear_child_tid = NULL;
	err = vm_munmap(0, TASK_SIZE);

	spin_lock_irq(&t->sighand->siglock);
	sigfillset(&t->real_blocked);
	sigdelset(&t->real_blocked, SIGKILL);
	sigemptyset(&t->blocked);
	recalc_sigpending();
	spin_unlock_irq(&t->sighand->siglock);
	return err;
}

/*
 * Sleep interruptibly until cond(arg), a pending signal, or timeout_ms: 1 if cond holds,
 * 0 on timeout, -ERESTARTSYS with a signal pending. A TWA_SIGNAL task work queued for this
 * task meanwhile also reads as a pending signal; it runs once the deputy's own work returns
 * (task_work_run keeps running works queued while it runs), so its flag is cleared here to
 * keep the deputy from spinning on it.
 */
long migr_deputy_wait(struct wait_queue_head *wq, bool (*cond)(const void *), const void *arg,
		      unsigned long timeout_ms)
{
	long r;

	if (test_thread_flag(TIF_NOTIFY_SIGNAL))
		clear_notify_signal();
	r = wait_event_interruptible_timeout(*wq, cond(arg), msecs_to_jiffies(timeout_ms));
	return r > 0 ? 1 : r;
}

/* The next queued signal, never SIGKILL (that one ends the deputy): its number, 0 if none. */
int migr_deputy_take_signal(void)
{
	kernel_siginfo_t info;
	enum pid_type type;
	sigset_t keep;
	int sig;

	sigemptyset(&keep);
	sigaddset(&keep, SIGKILL);
	spin_lock_irq(&current->sighand->siglock);
	sig = dequeue_signal(&keep, &info, &type);
	recalc_sigpending();
	spin_unlock_irq(&current->sighand->siglock);
	return sig;
}

/* A signal other than SIGKILL is queued for current (private or shared). */
bool migr_deputy_signal_queued(void)
{
	struct task_struct *t = current;
	sigset_t queued;
	bool any;

	spin_lock_irq(&t->sighand->siglock);
	sigorsets(&queued, &t->pending.signal, &t->signal->shared_pending.signal);
	sigdelset(&queued, SIGKILL);
	any = !sigisemptyset(&queued);
	spin_unlock_irq(&t->sighand->siglock);
	return any;
}

/*
 * Tell the deputy's parent it stopped (CLD_STOPPED, by `sig`) or continued (CLD_CONTINUED):
 * SIGCHLD unless the parent ignores it or asked for no stop notices (SA_NOCLDSTOP), and a
 * wake-up of its wait(), as kernel/signal.c's do_notify_parent_cldstop does. The parent is
 * pinned under RCU (tasklist_lock is not exported); both calls take the locks they need.
 */
static void migr_deputy_notify_parent(int why, int sig)
{
	struct task_struct *t = current, *parent;
	struct k_sigaction *chld;
	kernel_siginfo_t info;
	bool send;

	rcu_read_lock();
	parent = rcu_dereference(t->real_parent);
	get_task_struct(parent);
	rcu_read_unlock();

	clear_siginfo(&info);
	info.si_signo = SIGCHLD;
	info.si_code = why;
	info.si_pid = task_pid_nr_ns(t, task_active_pid_ns(parent));
	info.si_uid = from_kuid_munged(task_cred_xxx(parent, user_ns), task_uid(t));
	info.si_status = sig;

	spin_lock_irq(&parent->sighand->siglock);
	chld = &parent->sighand->action[SIGCHLD - 1];
	send = chld->sa.sa_handler != SIG_IGN && !(chld->sa.sa_flags & SA_NOCLDSTOP);
	spin_unlock_irq(&parent->sighand->siglock);
	if (send)
		send_sig_info(SIGCHLD, &info, parent);
	__wake_up_sync_key(&parent->signal->wait_chldexit, TASK_INTERRUPTIBLE, t);
	put_task_struct(parent);
}

/*
 * Stop as its copy did, by `sig`: a group stop as do_signal_stop makes it (the parent's
 * wait(WUNTRACED) sees WIFSTOPPED with `sig`, a shell says "Stopped"), until SIGCONT or
 * SIGKILL wakes it. SIGCONT stays queued for the deputy to hand on (real_blocked), and the
 * parent hears CLD_CONTINUED. 0, or -EINTR if SIGKILL came first.
 */
int migr_deputy_stop(int sig)
{
	struct task_struct *t = current;
	struct signal_struct *s = t->signal;
	bool continued;

	spin_lock_irq(&t->sighand->siglock);
	if (fatal_signal_pending(t) || (s->flags & SIGNAL_GROUP_EXIT)) {
		spin_unlock_irq(&t->sighand->siglock);
		return -EINTR;
	}
	s->group_exit_code = sig;
	s->group_stop_count = 0;
	signal_set_stop_flags(s, SIGNAL_STOP_STOPPED);
	t->jobctl |= JOBCTL_STOPPED;
	set_special_state(TASK_STOPPED);
	spin_unlock_irq(&t->sighand->siglock);
	migr_deputy_notify_parent(CLD_STOPPED, sig);

	/* SIGCONT clears JOBCTL_STOPPED and wakes __TASK_STOPPED; SIGKILL wakes TASK_WAKEKILL. */
	spin_lock_irq(&t->sighand->siglock);
	while ((t->jobctl & JOBCTL_STOPPED) && !fatal_signal_pending(t)) {
		set_special_state(TASK_STOPPED);
		spin_unlock_irq(&t->sighand->siglock);
		schedule();
		spin_lock_irq(&t->sighand->siglock);
	}
	t->jobctl &= ~JOBCTL_STOPPED;
	continued = s->flags & SIGNAL_CLD_CONTINUED;
	s->flags &= ~SIGNAL_CLD_MASK;
	spin_unlock_irq(&t->sighand->siglock);
	if (continued)
		migr_deputy_notify_parent(CLD_CONTINUED, SIGCONT);
	return fatal_signal_pending(t) ? -EINTR : 0;
}

/* A fatal signal (SIGKILL) is pending: the deputy must end now. */
bool migr_deputy_killed(void)
{
	return fatal_signal_pending(current);
}

/*
 * Block every signal the deputy may still be sent: it has no user memory, so a handler's
 * frame could not be written (SIGSEGV would end it instead of the status it must report).
 * force_sig unblocks the one it sends.
 */
static void migr_deputy_block_all(void)
{
	spin_lock_irq(&current->sighand->siglock);
	sigemptyset(&current->real_blocked);
	sigfillset(&current->blocked);
	sigdelsetmask(&current->blocked, sigmask(SIGKILL) | sigmask(SIGSTOP));
	recalc_sigpending();
	spin_unlock_irq(&current->sighand->siglock);
}

/*
 * End by `sig` as its copy did: the default action, whatever the handler, with a core dump
 * only if `core` (RLIMIT_CORE 0 otherwise), on the way back to user mode.
 */
void migr_deputy_end_by_signal(int sig, bool core)
{
	struct task_struct *t = current;

	if (!core) {
		task_lock(t->group_leader);
		t->signal->rlim[RLIMIT_CORE].rlim_cur = 0;
		task_unlock(t->group_leader);
	}
	kernel_sigaction(sig, SIG_DFL);
	migr_deputy_block_all();
	force_sig(sig);
}

/*
 * Install `f` as a new descriptor of current, inherited across exec; the reference is
 * taken over (dropped on failure). The descriptor, or a negative errno.
 */
int migr_install_file(struct file *f)
{
	int fd = get_unused_fd_flags(0);

	if (fd < 0) {
		fput(f);
		return fd;
	}
	fd_install(fd, f);
	return fd;
}

/*
 * Become another program: return to user mode into execve. `strings` holds `argc`
 * NUL-terminated arguments (the first is the path too) then `envc` NUL-terminated entries,
 * `len` bytes in all (checked by the caller). They go to a fresh mapping with their pointer
 * arrays and the code: execve, and exit_group(127) should it fail. 0, or a negative errno
 * (nothing changed but a mapping).
 */
int migr_deputy_exec(const char *strings, size_t len, int argc, int envc)
{
	static const u8 code[] = {
		0x0f, 0x05,			/* syscall: execve (registers set below) */
		0xb8, 0xe7, 0x00, 0x00, 0x00,	/* mov eax, 231: exit_group */
		0xbf, 0x7f, 0x00, 0x00, 0x00,	/* mov edi, 127 */
		0x0f, 0x05,			/* syscall */
	};
	struct pt_regs *regs = current_pt_regs();
	size_t nptrs = argc + 1 + envc + 1, size;
	unsigned long base, arrays, text;
	const char *p = strings;
	u64 *ptrs;
	int i, k = 0, err = 0;

	if (!user_64bit_mode(regs))
		return -EOPNOTSUPP;
	arrays = ALIGN(len, 8);
	size = PAGE_ALIGN(arrays + nptrs * sizeof(u64) + sizeof(code));
	ptrs = kcalloc(nptrs, sizeof(u64), GFP_KERNEL);
	if (!ptrs)
		return -ENOMEM;
	base = vm_mmap(NULL, 0, size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(base)) {
		kfree(ptrs);
		return (int)base;
	}
	for (i = 0; i < argc + envc; i++) {
		ptrs[k++] = base + (p - strings);
		if (i == argc - 1)
			ptrs[k++] = 0;	/* argv's end */
		p += strlen(p) + 1;
	}
	ptrs[k] = 0;			/* envp's end */
	arrays += base;
	text = arrays + nptrs * sizeof(u64);
	if (copy_to_user((void __user *)base, strings, len) ||
	    copy_to_user((void __user *)arrays, ptrs, nptrs * sizeof(u64)) ||
	    copy_to_user((void __user *)text, code, sizeof(code)))
		err = -EFAULT;
	kfree(ptrs);
	if (err)
		return err;
	migr_deputy_block_all();
	regs->ip = text;
	regs->ax = __NR_execve;
	regs->di = base;
	regs->si = arrays;
	regs->dx = arrays + (argc + 1) * sizeof(u64);
	regs->orig_ax = -1;
	return 0;
}

/*
 * End by exit_group(code) as its copy did: no exported function ends current with a code,
 * so the deputy returns to user mode into a page holding one `syscall` instruction, with
 * the registers of exit_group(code) (orig_ax -1: no syscall restart is applied on the way).
 * 0, or a negative errno (the caller ends it by SIGKILL then).
 */
int migr_deputy_end_by_exit(int code)
{
	static const u8 syscall_insn[] = { 0x0f, 0x05 };
	struct pt_regs *regs = current_pt_regs();
	unsigned long page;

	if (!user_64bit_mode(regs))
		return -EOPNOTSUPP;
	page = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(page))
		return (int)page;
	if (copy_to_user((void __user *)page, syscall_insn, sizeof(syscall_insn)))
		return -EFAULT;
	migr_deputy_block_all();
	regs->ip = page;
	regs->ax = __NR_exit_group;
	regs->di = code;
	regs->orig_ax = -1;
	return 0;
}
