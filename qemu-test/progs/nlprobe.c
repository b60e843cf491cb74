/*
 * nlprobe: sends migr.ko malformed requests, the way a buggy or hostile client would, and
 * prints what the module answered, one line per case:
 *
 *     CASE errno=E miss_type=T miss_nest=N bad_attr=A msg=TEXT
 *
 * errno is the error of the netlink ack (0: accepted); miss_type/miss_nest the attribute the
 * extack names as missing (NLMSGERR_ATTR_MISS_TYPE/_NEST, -1 if none); bad_attr the type of the
 * attribute the extack points at (NLMSGERR_ATTR_OFFS resolved in the request, -1 if none); msg
 * the extack's text ("-" if none). The scenario (malformed-requests-named) checks the lines: an
 * in-tree family names what is wrong (GENL_REQ_ATTR_CHECK, NL_SET_BAD_ATTR), and nothing of it
 * may reach the kernel log as a warning. Raw netlink on purpose: migctl never sends these.
 */
#include <cpuid.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/migr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/labtest.h"
#include "lib/nl.h"

/* The largest XSAVE area tried (AMX tiles need about 11 KiB). */
#define MAX_XSTATE 16384
/* ENOTSUPP, the kernel-internal errno the module gives an xstate of another size. */
#define KERNEL_ENOTSUPP 524

static void report(const char *name, struct req *r)
{
	struct answer a;

	send_req(r, &a);
	printf("%s errno=%d miss_type=%d miss_nest=%d bad_attr=%d msg=%s\n", name, a.err,
	       a.miss_type, a.miss_nest, a.bad_attr, a.msg);
}

/* A forged or sane restore image: what a peer daemon could send. */
struct image {
	uint64_t mm[12]; /* struct migr_mm_fields: start_code .. env_end, vdso */
	uint32_t sas_flags;
	uint64_t rseq;
	uint32_t rseq_len;
	uint64_t usr1_flags; /* sa_flags of SIGUSR1 */
};

static const struct image sane = {
	.mm = { 0x400000, 0x401000, 0x402000, 0x403000, 0x404000, 0x405000, 0x7ffffffde000,
		0x7fffffffe000, 0x7fffffffe010, 0x7fffffffe010, 0x7fffffffe020, 0x7ffff7fc1000 },
	.rseq = 0x7ffff7d00020,
	.rseq_len = 32,
	.usr1_flags = 0x04000000 | 0x10000000, /* SA_RESTORER | SA_RESTART */
};

static void restore_req(struct req *r, uint16_t family, const struct image *im, unsigned xstate_len)
{
	static uint64_t regs[27], acts[64 * 4];
	static char xstate[MAX_XSTATE];

	req_init(r, family, MIGR_CMD_RESTORE);
	req_put(r, MIGR_A_TASK_REGS, regs, sizeof(regs));
	req_put(r, MIGR_A_TASK_XSTATE, xstate, xstate_len);
	memset(acts, 0, sizeof(acts));
	acts[(10 - 1) * 4 + 1] = im->usr1_flags;
	req_put(r, MIGR_A_TASK_SIGACTIONS, acts, sizeof(acts));
	req_put(r, MIGR_A_TASK_MM, im->mm, sizeof(im->mm));
	req_put(r, MIGR_A_TASK_SAS_FLAGS, &im->sas_flags, sizeof(im->sas_flags));
	req_put(r, MIGR_A_TASK_RSEQ, &im->rseq, sizeof(im->rseq));
	req_put(r, MIGR_A_TASK_RSEQ_LEN, &im->rseq_len, sizeof(im->rseq_len));
}

/* The xstate size the module accepts (this CPU's XSAVE area; any other is ENOTSUPP):
 * tried with an image it refuses for another reason, so nothing is restored meanwhile. */
static unsigned find_xstate_len(uint16_t family)
{
	struct image bad = sane;
	struct answer a;
	struct req r;
	unsigned len;

	bad.mm[1] = bad.mm[0]; /* end_code == start_code */
	/* First what CPUID says XSAVE needs for the enabled features (the kernel's size unless it
	 * left some out), then every size an XSAVE area can have. */
	{
		unsigned eax, ebx, ecx, edx;

		if (__get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx) && ebx >= 576 && ebx <= MAX_XSTATE) {
			restore_req(&r, family, &bad, ebx);
			send_req(&r, &a);
			if (a.err != KERNEL_ENOTSUPP)
				return ebx;
		}
	}
	for (len = 576; len <= MAX_XSTATE; len += 8) {
		restore_req(&r, family, &bad, len);
		send_req(&r, &a);
		if (a.err != KERNEL_ENOTSUPP)
			return len;
	}
	return 576;
}

/* A forged image: the sane one with one change, which the module must refuse (EINVAL) before
 * anything is built, as the syscalls that set those fields would. */
static void forged(const char *name, uint16_t family, unsigned xstate_len, struct image im)
{
	struct req r;

	restore_req(&r, family, &im, xstate_len);
	report(name, &r);
}

int main(void)
{
	uint16_t family;
	struct req r;
	uint32_t u32;
	uint8_t u8 = 1;
	uint64_t u64 = 1;

	lt_init();
	nl_open();
	family = resolve_family();

	/* A required attribute missing: GENL_REQ_ATTR_CHECK names it. */
	req_init(&r, family, MIGR_CMD_FREEZE);
	report("freeze-without-pid", &r);

	/* The pid has the wrong size: the generated policy rejects it, pointing at it. */
	req_init(&r, family, MIGR_CMD_FREEZE);
	req_put(&r, MIGR_A_TASK_PID, &u8, sizeof(u8));
	report("freeze-pid-one-byte", &r);

	/* A well-formed pid that no pid can be (negative as pid_t): the handler points at it. */
	req_init(&r, family, MIGR_CMD_FREEZE);
	u32 = 0xfffffff0u;
	req_put(&r, MIGR_A_TASK_PID, &u32, sizeof(u32));
	report("freeze-pid-negative", &r);

	/* An attribute type the family does not define: strict validation refuses it. */
	req_init(&r, family, MIGR_CMD_FREEZE);
	u32 = getpid();
	req_put(&r, MIGR_A_TASK_PID, &u32, sizeof(u32));
	req_put(&r, MIGR_A_TASK_MAX + 7, &u32, sizeof(u32));
	report("freeze-unknown-attr", &r);

	/* A proof descriptor that is not open: the module points at it. */
	req_init(&r, family, MIGR_CMD_FREEZE);
	u32 = 1;
	req_put(&r, MIGR_A_TASK_PID, &u32, sizeof(u32));
	u32 = 999;
	req_put(&r, MIGR_A_TASK_PROOF_FD, &u32, sizeof(u32));
	report("freeze-proof-not-open", &r);

	/* Page data for a pager nobody has: no such process, nothing allocated. */
	req_init(&r, family, MIGR_CMD_PAGE_DATA);
	u32 = 0x7ffffff0u;
	req_put(&r, MIGR_A_PAGER_PID, &u32, sizeof(u32));
	req_put(&r, MIGR_A_PAGER_ID, &u32, sizeof(u32));
	req_put(&r, MIGR_A_PAGER_ADDR, &u64, sizeof(u64));
	report("page-data-no-pager", &r);

	/* Page data naming a pid but no pager id: the id is missing. */
	req_init(&r, family, MIGR_CMD_PAGE_DATA);
	req_put(&r, MIGR_A_PAGER_PID, &u32, sizeof(u32));
	req_put(&r, MIGR_A_PAGER_ADDR, &u64, sizeof(u64));
	report("page-data-without-id", &r);

	/* A command number the family does not have. */
	req_init(&r, family, MIGR_CMD_MAX + 5);
	report("unknown-command", &r);

	/* The thaw of a session that does not exist. */
	req_init(&r, family, MIGR_CMD_THAW);
	report("thaw-without-session", &r);

	/* Restore images (issue 12: every field validated as the kernel would). The sane one is
	 * accepted (its session ends when this program exits and closes its descriptors); each
	 * forged one differs from it in one field. */
	{
		unsigned xs = find_xstate_len(family);
		struct image im;

		restore_req(&r, family, &sane, xs);
		report("restore-sane-image", &r);
		im = sane; im.mm[1] = im.mm[0] - 0x1000;           /* end_code before start_code */
		forged("restore-forged-code-range", family, xs, im);
		im = sane; im.mm[7] = 0xffff888000000000ull;       /* arg_start in the kernel */
		forged("restore-forged-kernel-address", family, xs, im);
		im = sane; im.mm[5] = im.mm[4] - 0x1000;           /* brk below start_brk */
		forged("restore-forged-brk", family, xs, im);
		im = sane; im.sas_flags = 7;                       /* no such sigaltstack mode */
		forged("restore-forged-sigaltstack", family, xs, im);
		im = sane; im.rseq = 0x7ffff7d00024;               /* rseq area misaligned */
		forged("restore-forged-rseq", family, xs, im);
		im = sane; im.usr1_flags |= 0x00800000;            /* SA_IMMUTABLE: kernel-only */
		forged("restore-forged-sigaction", family, xs, im);
	}
	return 0;
}
