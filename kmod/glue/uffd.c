// SPDX-License-Identifier: GPL-2.0
/*
 * Glue for the pager's use of the kernel's own userfaultfd (see docs/design/lazy-userfaultfd.md
 * and kmod/pager.rs): the module drives a userfaultfd through its file operations, as a
 * process would, because nothing of fs/userfaultfd.c or mm/userfaultfd.c is exported.
 *
 * - a context is created with USERFAULTFD_IOC_NEW on /dev/userfaultfd in the restored task
 *   itself (new_userfaultfd takes current->mm), its descriptor taken out of the task's table
 *   at once (file_close_fd);
 * - every other ioctl reads and writes its argument in user memory of current (there is no
 *   kernel-buffer path in 6.12), so the caller gives a staging address in current's mm
 *   (kmod/bind/uffd.rs maps one);
 * - a kworker that must issue ioctls borrows a daemon's mm (kthread_use_mm);
 * - events and faults are read with kernel_read (O_NONBLOCK); a wait entry on the context's
 *   fd_wqh (the queue poll and read wait on) schedules the one drain work of the module.
 *
 * No decision is taken here. See glue.h.
 */
#include <linux/cred.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/userfaultfd_k.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/userfaultfd.h>
#include "glue.h"

/* Defined in kmod/bind/entry.rs. */
void migr_pagers_drain(void);

MIGR_LAYOUT(struct uffd_msg, 32);
MIGR_OFFSET(struct uffd_msg, arg, 8);
MIGR_LAYOUT(struct uffdio_api, 24);
MIGR_LAYOUT(struct uffdio_register, 32);
MIGR_LAYOUT(struct uffdio_copy, 40);
MIGR_LAYOUT(struct uffdio_zeropage, 32);
MIGR_LAYOUT(struct uffdio_poison, 32);
MIGR_LAYOUT(struct uffdio_range, 16);

const u32 migr_uffdio_api = UFFDIO_API, migr_uffdio_register = UFFDIO_REGISTER,
	  migr_uffdio_copy = UFFDIO_COPY, migr_uffdio_zeropage = UFFDIO_ZEROPAGE,
	  migr_uffdio_poison = UFFDIO_POISON, migr_uffdio_wake = UFFDIO_WAKE,
	  migr_uffdio_unregister = UFFDIO_UNREGISTER;
const u64 migr_uffd_api = UFFD_API, migr_uffd_register_mode_missing = UFFDIO_REGISTER_MODE_MISSING;
const u64 migr_uffd_features = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
			       UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;
const u8 migr_uffd_event_pagefault = UFFD_EVENT_PAGEFAULT, migr_uffd_event_fork = UFFD_EVENT_FORK,
	 migr_uffd_event_remap = UFFD_EVENT_REMAP, migr_uffd_event_remove = UFFD_EVENT_REMOVE,
	 migr_uffd_event_unmap = UFFD_EVENT_UNMAP;

/* /dev/userfaultfd, opened with the caller's credentials and mounts (a daemon doit). */
struct file *migr_uffd_dev_open(void)
{
	return filp_open("/dev/userfaultfd", O_RDWR | O_CLOEXEC, 0);
}

/*
 * A new userfaultfd context for current's mm (O_NONBLOCK: kernel_read must not sleep, and
 * poll needs it; not UFFD_USER_MODE_ONLY: faults the kernel takes on the task's behalf wait
 * too). The descriptor new_userfaultfd installs in current's table is taken out at once.
 */
struct file *migr_uffd_new(struct file *dev)
{
	long fd = vfs_ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return ERR_PTR(fd);
	return file_close_fd(fd) ?: ERR_PTR(-EBADF);
}

/*
 * One ioctl on a userfaultfd: arg (size bytes) is copied to the user staging address ubuf
 * of current's mm, the ioctl reads it there, and what it wrote back is copied into arg.
 */
long migr_uffd_ioctl(struct file *uffd, u32 cmd, u64 ubuf, void *arg, u32 size)
{
	void __user *u = u64_to_user_ptr(ubuf);
	long r;

	if (copy_to_user(u, arg, size))
		return -EFAULT;
	r = vfs_ioctl(uffd, cmd, ubuf);
	if (copy_from_user(arg, u, size))
		return r < 0 ? r : -EFAULT;
	return r;
}

/* Copy len bytes to user memory of current. */
int migr_copy_to_user(u64 dst, const void *src, u32 len)
{
	return copy_to_user(u64_to_user_ptr(dst), src, len) ? -EFAULT : 0;
}

/* Read one message; -EAGAIN when none is pending. */
long migr_uffd_read(struct file *uffd, struct uffd_msg *msg)
{
	loff_t pos = 0;

	return kernel_read(uffd, msg, sizeof(*msg), &pos);
}

/* The file of a descriptor a fork event installed in current's table, taken out of it. */
struct file *migr_take_fd(u32 fd)
{
	return file_close_fd(fd);
}

/* The mm a userfaultfd context serves (the context holds an mmgrab on it). */
struct mm_struct *migr_uffd_mm(struct file *uffd)
{
	struct userfaultfd_ctx *ctx = uffd->private_data;

	return ctx->mm;
}

/* The mappings of the context's mm registered on this context (vma->vm_userfaultfd_ctx),
 * as start/end pairs in address order: how many pairs were written (at most max), -E2BIG if
 * there are more, -ESRCH if the mm has no users left. Read under the mmap lock, which is
 * released before returning: the caller unregisters them after (that takes it for writing). */
long migr_uffd_registered(struct file *uffd, u64 *pairs, u32 max)
{
	struct userfaultfd_ctx *ctx = uffd->private_data;
	struct mm_struct *mm = ctx->mm;
	struct vm_area_struct *vma;
	long n = 0;

	if (!mmget_not_zero(mm))
		return -ESRCH;
	mmap_read_lock(mm);
	{
		VMA_ITERATOR(vmi, mm, 0);

		for_each_vma(vmi, vma) {
			if (vma->vm_userfaultfd_ctx.ctx != ctx)
				continue;
			if (n == max) {
				n = -E2BIG;
				break;
			}
			pairs[2 * n] = vma->vm_start;
			pairs[2 * n + 1] = vma->vm_end;
			n++;
		}
	}
	mmap_read_unlock(mm);
	mmput(mm);
	return n;
}

/* Take an mm_users reference if the mm still has users (mmget_not_zero). */
bool migr_mmget_not_zero(struct mm_struct *mm)
{
	return mmget_not_zero(mm);
}

/* current->mm with an mm_count reference (mmgrab), or NULL for a kernel thread. */
struct mm_struct *migr_mmgrab_current(void)
{
	struct mm_struct *mm = current->mm;

	if (mm)
		mmgrab(mm);
	return mm;
}

void migr_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}

/* Borrow a user mm in a kworker: false if it has no users left. */
bool migr_use_mm(struct mm_struct *mm)
{
	if (!mmget_not_zero(mm))
		return false;
	kthread_use_mm(mm);
	return true;
}

void migr_unuse_mm(struct mm_struct *mm)
{
	kthread_unuse_mm(mm);
	mmput(mm);
}

/* Act with the init task's credentials (UFFD_FEATURE_EVENT_FORK needs CAP_SYS_PTRACE). */
const struct cred *migr_creds_kernel_begin(void)
{
	struct cred *c = prepare_kernel_cred(&init_task);
	const struct cred *old;

	if (!c)
		return NULL;
	old = override_creds(c);
	put_cred(c);	/* override_creds took its own reference */
	return old;
}

void migr_creds_end(const struct cred *old)
{
	revert_creds(old);
}

/* ---- the drain work and the wait entries that schedule it ---- */

static void migr_uffd_drain_fn(struct work_struct *w)
{
	migr_pagers_drain();
}

static DECLARE_DELAYED_WORK(migr_uffd_drain_work, migr_uffd_drain_fn);

/* Run the drain work now (any context, irqs off included). */
void migr_drain_now(void)
{
	mod_delayed_work(system_wq, &migr_uffd_drain_work, 0);
}

/* Run it in ms unless it is already pending (which may be sooner). */
void migr_drain_later(u32 ms)
{
	queue_delayed_work(system_wq, &migr_uffd_drain_work, msecs_to_jiffies(ms));
}

/* Module exit, once no wait entry is left: no drain runs after this returns. */
void migr_drain_stop(void)
{
	cancel_delayed_work_sync(&migr_uffd_drain_work);
}

struct migr_uffd_watch {
	struct wait_queue_entry entry;
	struct wait_queue_head *head;
};

/* Runs under fd_wqh.lock with irqs off: only schedules. */
static int migr_uffd_woken(struct wait_queue_entry *w, unsigned int mode, int sync, void *key)
{
	migr_drain_now();
	return 0;
}

/* Schedule the drain whenever the context has a fault or an event to read (or closes). */
void *migr_uffd_watch(struct file *uffd)
{
	struct userfaultfd_ctx *ctx = uffd->private_data;
	struct migr_uffd_watch *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	init_waitqueue_func_entry(&w->entry, migr_uffd_woken);
	w->head = &ctx->fd_wqh;
	add_wait_queue(w->head, &w->entry);
	return w;
}

/* Remove the entry (before the context's file reference is dropped). */
void migr_uffd_unwatch(void *watch)
{
	struct migr_uffd_watch *w = watch;

	remove_wait_queue(w->head, &w->entry);
	kfree(w);
}
