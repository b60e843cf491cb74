// SPDX-License-Identifier: GPL-2.0
/*
 * Glue for the session files (anon inodes): one file_operations table per kind, whose
 * callbacks forward the file's private data to Rust (kmod/bind/entry.rs). The private data
 * is an `Arc` handed over with ForeignOwnable::into_foreign (kmod/bind/file.rs). See glue.h.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/poll.h>
#include "glue.h"

/* poll bits: uapi/asm-generic/poll.h is not reached by bindgen. */
const u32 migr_pollin = POLLIN, migr_pollerr = POLLERR;

/* Defined in kmod/bind/entry.rs. */
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

/* A new descriptor (O_CLOEXEC) of a new anon-inode file of the given kind; the file owns priv. */
int migr_anon_fd(u32 kind, void *priv)
{
	switch (kind) {
	case MIGR_FILE_RESTORE_CONTROL:
		return anon_inode_getfd("[migr-restore]", &migr_restore_ctl_fops, priv,
					O_RDWR | O_CLOEXEC);
	case MIGR_FILE_RESTORE_STUB:
		return anon_inode_getfd("[migr-stub]", &migr_restore_stub_fops, priv,
					O_RDWR | O_CLOEXEC);
	case MIGR_FILE_FROZEN:
		return anon_inode_getfd("[migr-frozen]", &migr_freeze_fops, priv,
					O_RDONLY | O_CLOEXEC);
	default:
		return -EINVAL;
	}
}
