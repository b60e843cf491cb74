/*
 * lazyfork MIB: a child forked after a lazy move moves on before its pages arrived, with a
 * PROT_NONE region among them (issue 11: both used to be refused, lazy-pages-pending).
 * It fills MIB MiB and a 1 MiB region that it then makes PROT_NONE, prints "ready" and waits
 * for go (it is moved lazily without push meanwhile: every page stays on its source). Then it
 * forks. The child prints "child PID" and waits for its own go (the harness moves it on
 * meanwhile, its address space still missing every page), makes the PROT_NONE region
 * readable, prints "child checksum 0x..." over both regions and exits 7. The parent waits
 * for it, prints "child exited N" (what its wait() saw), then "parent checksum 0x..." over
 * both regions and "done". Deterministic for a given MIB.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/labtest.h"

#define HIDDEN (1ul << 20)

static uint64_t checksum(const uint64_t *a, size_t alen, const uint64_t *b, size_t blen)
{
	uint64_t sum = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < alen / 8; i += 32)
		sum = (sum ^ a[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < blen / 8; i += 32)
		sum = (sum ^ b[i]) * 0x100000001b3ull;
	return sum;
}

int main(int argc, char **argv)
{
	size_t len = (size_t)(argc > 1 ? atol(argv[1]) : 16) << 20;
	uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *hidden = mmap(NULL, HIDDEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t child;

	lt_init();
	lt_check(mem != MAP_FAILED && hidden != MAP_FAILED, "mmap");
	for (size_t i = 0; i < len / 8; i += 32)
		mem[i] = i * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < HIDDEN / 8; i += 32)
		hidden[i] = i * 0xbf58476d1ce4e5b9ull + 3;
	lt_check(mprotect(hidden, HIDDEN, PROT_NONE) == 0, "mprotect none");
	lt_ready_wait_go();
	child = fork();
	lt_check(child >= 0, "fork");
	if (child == 0) {
		lt_say("child %d", (int)getpid());
		lt_wait_go();
		lt_check(mprotect(hidden, HIDDEN, PROT_READ) == 0, "mprotect read");
		lt_say("child checksum 0x%016llx", (unsigned long long)checksum(mem, len, hidden, HIDDEN));
		return 7;
	}
	lt_check(waitpid(child, &status, 0) == child, "waitpid");
	if (WIFEXITED(status))
		lt_say("child exited %d", WEXITSTATUS(status));
	else
		lt_say("child ended %#x", status);
	lt_check(mprotect(hidden, HIDDEN, PROT_READ) == 0, "mprotect read");
	lt_say("parent checksum 0x%016llx", (unsigned long long)checksum(mem, len, hidden, HIDDEN));
	lt_say("done");
	return 0;
}
