// SPDX-License-Identifier: GPL-2.0
/*
 * Glue for the remote pager: its file and vm_operations (the fault handler's mm protocol),
 * the MMU notifier that sees MADV_DONTNEED, and the page array (an xarray of page
 * references and SERVED value entries). The decisions (which page, zeros or SIGBUS, when
 * to give up) are in Rust (kmod/pager.rs through kmod/bind/entry.rs). See glue.h.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include "glue.h"

/* Defined in kmod/bind/entry.rs. */
int migr_pager_lookup(void *pager, unsigned long pgoff, struct page **page);
void migr_pager_wait(void *pager, unsigned long pgoff);
void migr_pager_vma_opened(void *pager, bool other_mm);
void migr_pager_file_release(void *pager);
void migr_pager_discard(void *pager, unsigned long pgoff, unsigned long count);

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
 * Take the page at pgoff for a fault: 0 and *page (without keep the array's reference moves
 * to the caller and the slot becomes SERVED; with keep the caller gets a new reference and
 * the page stays), 1 if it was served before, 2 if absent. Takes the xa spinlock; no sleep.
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

/* Store page at pgoff if the slot is empty. Consumes the caller's page reference: 1 stored,
 * 0 slot taken (page dropped), <0 error (page dropped). May sleep (GFP_KERNEL). */
int migr_xa_store_new(struct xarray *xa, unsigned long pgoff, struct page *page)
{
	void *old = xa_cmpxchg(xa, pgoff, NULL, page, GFP_KERNEL);

	if (old) {
		put_page(page);
		return xa_is_err(old) ? xa_err(old) : 0;
	}
	return 1;
}

/* Mark [pgoff, pgoff + count) served: drop held pages; absent ones become SERVED (best
 * effort: GFP_NOWAIT, called from an MMU notifier that must not sleep). */
void migr_xa_discard(struct xarray *xa, unsigned long pgoff, unsigned long count)
{
	unsigned long i;

	for (i = pgoff; i < pgoff + count; i++) {
		void *old = xa_store(xa, i, MIGR_SERVED, GFP_NOWAIT);

		if (old && !xa_is_value(old) && !xa_is_err(old))
			put_page(old);
	}
}

/* A page for user memory (GFP_HIGHUSER, may sleep), zeroed if asked; NULL if none. */
struct page *migr_alloc_page(bool zero)
{
	return alloc_page(GFP_HIGHUSER | (zero ? __GFP_ZERO : 0));
}

void migr_put_page(struct page *page)
{
	put_page(page);
}

void migr_copy_to_page(struct page *page, const void *data)
{
	memcpy_to_page(page, 0, data, PAGE_SIZE);
}

/*
 * The fault handler: the mm protocol around Rust's decisions. When the page must come from
 * the network, drop the mmap/VMA lock (filemap's maybe_unlock_mmap_for_io pattern, with the
 * file pinned so the pager stays alive), wait, and let the core retry. Paths that may not
 * retry (ptrace, /proc/PID/mem) wait holding it.
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

/* Called on split, mremap and fork (dup_mmap runs in the parent, so there the new VMA's mm
 * is not current's); Rust decides what that means. */
static void migr_pager_vm_open(struct vm_area_struct *vma)
{
	migr_pager_vma_opened(vma->vm_file->private_data, vma->vm_mm != current->mm);
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
struct file *migr_pager_file_create(void *pager)
{
	return anon_inode_create_getfile("[migr-pager]", &migr_pager_fops, pager, O_RDWR, NULL);
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

struct migr_watch {
	struct mmu_notifier mn;
	void *file_priv;	/* the pager file's private data: identifies its mappings */
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
		if (vma->vm_ops == &migr_pager_vm_ops && vma->vm_file->private_data == w->file_priv)
			migr_pager_discard(w->file_priv, vma->vm_pgoff + ((s - vma->vm_start) >> PAGE_SHIFT),
					   (e - s) >> PAGE_SHIFT);
		addr = vma->vm_end;
	}
	rcu_read_unlock();
	return 0;
}

static const struct mmu_notifier_ops migr_watch_ops = {
	.invalidate_range_start = migr_watch_invalidate,
};

/* Watch current's mm for the mappings of file; NULL if that fails. May sleep. */
void *migr_pager_watch(struct file *file)
{
	struct migr_watch *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	w->file_priv = file->private_data;
	w->mn.ops = &migr_watch_ops;
	if (mmu_notifier_register(&w->mn, current->mm)) {
		kfree(w);
		return NULL;
	}
	return w;
}

/* May sleep (SRCU): waits for callbacks in flight. */
void migr_pager_unwatch(void *watch)
{
	struct migr_watch *w = watch;

	if (!w)
		return;
	mmu_notifier_unregister(&w->mn, w->mn.mm);
	kfree(w);
}
#else
void *migr_pager_watch(struct file *file)
{
	return NULL;
}

void migr_pager_unwatch(void *watch)
{
}
#endif
