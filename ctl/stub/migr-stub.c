// SPDX-License-Identifier: GPL-2.0
/*
 * migr-stub: the process that becomes a migrated task on the target node.
 *
 * The node daemon starts it with the migrated pid (clone3 set_tid) and a restore-session
 * descriptor. It does what only the task itself can do, then hands over to the module:
 *   1. block every signal (the image's mask is set on the way back to user mode);
 *   2. groups, gids, uids, then chdir (as the user), dumpable, name: the identity of the
 *      original;
 *   3. move vvar+vdso to the original's address (arch_prctl(ARCH_MAP_VDSO_64)), because
 *      programs keep pointers into the vdso;
 *   4. set the gs base (the module cannot: x86_gsbase_write_cpu_inactive is not exported);
 *   5. ioctl(MIGR_IOC_RESTORE): the module replaces this address space with the image's
 *      and returns into the original's registers. This program's code never runs again.
 * Any failure before 5 exits with a message on stderr and a distinct status; the daemon
 * reports it and the source carries on.
 *
 * Usage: migr-stub FD VVAR VDSO GS RUID,EUID,SUID RGID,EGID,SGID GROUPS CWD COMM
 *        (addresses in hex; GROUPS comma-separated or "-").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <linux/migr.h>

#ifndef ARCH_MAP_VDSO_64
#define ARCH_MAP_VDSO_64 0x2003
#endif

static void die(int status, const char *what)
{
	fprintf(stderr, "migr-stub: %s: %s\n", what, strerror(errno));
	_exit(status);
}

/* Find the [vvar] and [vdso] ranges of this process. */
static int special_ranges(unsigned long *vvar, unsigned long *vvar_end, unsigned long *vdso,
			  unsigned long *vdso_end)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	*vvar = *vvar_end = *vdso = *vdso_end = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) != 2)
			continue;
		if (strstr(line, "[vvar]")) {
			*vvar = s;
			*vvar_end = e;
		} else if (strstr(line, "[vdso]")) {
			*vdso = s;
			*vdso_end = e;
		}
	}
	fclose(f);
	return 0;
}

static void parse3(const char *s, unsigned int v[3])
{
	if (sscanf(s, "%u,%u,%u", &v[0], &v[1], &v[2]) != 3) {
		errno = EINVAL;
		die(2, "bad id triple");
	}
}

/* Whether the caller's ids and groups are these already. */
static int has_ids(const unsigned int uid[3], const unsigned int gid[3], const gid_t *groups, int ngroups)
{
	uid_t r, e, s;
	gid_t gr, ge, gs, have[64];
	int n = getgroups(64, have);

	if (getresuid(&r, &e, &s) || r != uid[0] || e != uid[1] || s != uid[2])
		return 0;
	if (getresgid(&gr, &ge, &gs) || gr != gid[0] || ge != gid[1] || gs != gid[2])
		return 0;
	if (n != ngroups)
		return 0;
	for (int i = 0; i < n; i++)
		if (have[i] != groups[i])
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	unsigned long want_vvar, want_vdso, gs, vvar, vvar_end, vdso, vdso_end;
	unsigned int uid[3], gid[3];
	gid_t groups[64];
	int fd, ngroups = 0;
	sigset_t all;

	if (argc != 10) {
		fprintf(stderr, "usage: migr-stub FD VVAR VDSO GS UIDS GIDS GROUPS CWD COMM\n");
		return 2;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	fd = atoi(argv[1]);
	want_vvar = strtoul(argv[2], NULL, 16);
	want_vdso = strtoul(argv[3], NULL, 16);
	gs = strtoul(argv[4], NULL, 16);
	parse3(argv[5], uid);
	parse3(argv[6], gid);
	if (strcmp(argv[7], "-")) {
		char *save, *g = strtok_r(argv[7], ",", &save);

		for (; g && ngroups < 64; g = strtok_r(NULL, ",", &save))
			groups[ngroups++] = strtoul(g, NULL, 10);
	}

	/* Started by the daemon, it is root and takes the image's ids. A deputy become it (its
	 * process come home) is the process's user already, with these very ids (the daemon
	 * checked): nothing to change, and no right to change it. */
	if (!has_ids(uid, gid, groups, ngroups)) {
		if (setgroups(ngroups, groups))
			die(4, "setgroups");
		if (setresgid(gid[0], gid[1], gid[2]))
			die(4, "setresgid");
		if (setresuid(uid[0], uid[1], uid[2]))
			die(4, "setresuid");
	}
	/* As the user: a directory the user could not enter is not entered for them. */
	if (chdir(argv[8]))
		die(3, "chdir to the original's working directory");
	/* Changing ids cleared it; the original could be ptraced by its owner. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	prctl(PR_SET_NAME, argv[9], 0, 0, 0);

	if (special_ranges(&vvar, &vvar_end, &vdso, &vdso_end))
		die(5, "reading /proc/self/maps");
	if (want_vdso && vdso != want_vdso) {
		/* Both must go before ARCH_MAP_VDSO_64 (it refuses while either exists). After
		 * this, libc must not touch the vdso (no clock_gettime). */
		if ((vvar && munmap((void *)vvar, vvar_end - vvar)) ||
		    (vdso && munmap((void *)vdso, vdso_end - vdso)))
			die(5, "unmapping the vdso");
		if (syscall(SYS_arch_prctl, ARCH_MAP_VDSO_64, want_vvar) < 0)
			die(5, "mapping the vdso at the original's address");
		if (special_ranges(&vvar, &vvar_end, &vdso, &vdso_end))
			die(5, "reading /proc/self/maps");
		if (vdso != want_vdso) {
			errno = EADDRINUSE;
			fprintf(stderr, "migr-stub: vdso landed at %#lx, not %#lx\n", vdso, want_vdso);
			die(5, "vdso address");
		}
	}
	if (gs && syscall(SYS_arch_prctl, ARCH_SET_GS, gs) < 0)
		die(6, "setting the gs base");

	ioctl(fd, MIGR_IOC_RESTORE, (unsigned long)fd);
	/* Only a failure comes back here, and only if the address space is still ours. */
	die(7, "MIGR_IOC_RESTORE");
	return 7;
}
