/*
 * confined HOW: a process confined in a way that cannot travel, which migration must refuse
 * (and leave running; issue 12). HOW is one of
 *   seccomp  a seccomp filter (allowing everything: the refusal must not depend on what it filters)
 *   nnp      prctl(PR_SET_NO_NEW_PRIVS)
 *   capbset  CAP_NET_RAW dropped from the bounding set (root: every other set stays full)
 *   uts      a UTS namespace of its own (unshare)
 * Run as root. Prints "ready", waits for the harness's go (labtest.h), prints "done", exits 0.
 */
#define _GNU_SOURCE
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>

#include "lib/labtest.h"

static void allow_all_filter(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = 1, .filter = &allow };

	lt_check(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0, "seccomp filter");
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "";

	lt_init();
	if (!strcmp(how, "seccomp"))
		allow_all_filter();
	else if (!strcmp(how, "nnp"))
		lt_check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
	else if (!strcmp(how, "capbset"))
		lt_check(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) == 0, "drop CAP_NET_RAW");
	else if (!strcmp(how, "uts"))
		lt_check(unshare(CLONE_NEWUTS) == 0, "unshare(CLONE_NEWUTS)");
	else
		lt_fail("usage: confined seccomp|nnp|capbset|uts");
	lt_ready_wait_go();
	lt_say("done");
	return 0;
}
