// SPDX-License-Identifier: GPL-2.0
/*
 * Glue for address spaces: mm references and locks, VMA facts, mm fields, auxv, and
 * mapping into current (vm_mmap/vm_munmap are exported; the flag twiddling of madvise is
 * not). Classification of mappings and the choice of prot/flags are in Rust
 * (kmod/bind/mm.rs, kmod/mm.rs). See glue.h.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include "glue.h"

/* mmap(2) constants for vm_mmap: uapi/asm-generic/mman*.h is not reached by bindgen. */
const u64 migr_prot_read = PROT_READ, migr_prot_write = PROT_WRITE, migr_prot_exec = PROT_EXEC;
const u64 migr_map_private = MAP_PRIVATE, migr_map_fixed = MAP_FIXED;
const u64 migr_map_anonymous = MAP_ANONYMOUS, migr_map_growsdown = MAP_GROWSDOWN;
const u64 migr_map_noreserve = MAP_NORESERVE;

MIGR_LAYOUT(struct migr_mm_fields, 96);
MIGR_OFFSET(struct migr_mm_fields, vdso, 88);
MIGR_LAYOUT(struct migr_vma_info, 40);
MIGR_OFFSET(struct migr_vma_info, kind, 32);
MIGR_OFFSET(struct migr_vma_info, has_file, 36);

void migr_mmap_read_lock(struct mm_struct *mm)
{
	mmap_read_lock(mm);
}

void migr_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

/* Caller holds mmap_read_lock(mm). First VMA ending above addr: 1, or 0 if none. kind is
 * left 0 (Rust classifies). path (may be NULL) gets the file's path. */
int migr_vma_at(struct mm_struct *mm, u64 addr, struct migr_vma_info *v, char *path,
		unsigned int path_size)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	if (!vma)
		return 0;
	v->start = vma->vm_start;
	v->end = vma->vm_end;
	v->flags = vma->vm_flags;
	v->pgoff = vma->vm_pgoff;
	v->kind = 0;
	v->has_file = !!vma->vm_file;
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

/* The fields of struct migr_mm_fields that are mm_struct fields of the same name. */
#define MIGR_MM_FIELDS(X) X(start_code) X(end_code) X(start_data) X(end_data) X(start_brk) \
	X(brk) X(start_stack) X(arg_start) X(arg_end) X(env_start) X(env_end)
#define MIGR_GET(name) f->name = mm->name;
#define MIGR_SET(name) mm->name = f->name;

void migr_get_mm_fields(struct mm_struct *mm, struct migr_mm_fields *f)
{
	spin_lock(&mm->arg_lock);
	MIGR_MM_FIELDS(MIGR_GET)
	spin_unlock(&mm->arg_lock);
	f->vdso = (unsigned long)mm->context.vdso;
}

/* As prctl_set_mm_map (kernel/sys.c): mmap read lock plus arg_lock. vdso is not written. */
void migr_set_mm_fields(struct mm_struct *mm, const struct migr_mm_fields *f)
{
	mmap_read_lock(mm);
	spin_lock(&mm->arg_lock);
	MIGR_MM_FIELDS(MIGR_SET)
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

/* As prctl_set_auxv (kernel/sys.c): under task_lock. */
void migr_set_auxv(struct mm_struct *mm, const u64 *buf, unsigned int n)
{
	unsigned int i, cnt = min_t(unsigned int, n, ARRAY_SIZE(mm->saved_auxv));

	task_lock(current);
	for (i = 0; i < ARRAY_SIZE(mm->saved_auxv); i++)
		mm->saved_auxv[i] = i < cnt ? buf[i] : 0;
	task_unlock(current);
}

struct file *migr_filp_open_ro(const char *path)
{
	return filp_open(path, O_RDONLY | O_LARGEFILE, 0);
}

/* Add madvise-only flags to the mapping of current starting at start (do_madvise is not
 * exported); Rust chooses the flags. */
int migr_vma_add_flags(u64 start, u64 flags)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	int ret = -ENOENT;

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
