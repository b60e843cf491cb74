/*
 * madvflags: mappings carrying madvise-only flags must keep them. It maps three 4-page
 * anonymous regions (with a guard page between them so they cannot merge), marks them
 * MADV_DONTFORK, MADV_DONTDUMP and MADV_WIPEONFORK, writes a pattern into each, prints their
 * addresses ("dontfork 0x...", "dontdump 0x...", "wipeonfork 0x...") and "ready", waits for
 * the harness's go (labtest.h; the migration happens meanwhile), then checks the patterns ("patterns ok" or
 * "FAIL ...") and prints "done".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/labtest.h"

#define LEN (4 * 4096)

int main(void)
{
	static const int advice[3] = { MADV_DONTFORK, MADV_DONTDUMP, MADV_WIPEONFORK };
	static const char *name[3] = { "dontfork", "dontdump", "wipeonfork" };
	char *base = mmap(NULL, 3 * (LEN + 4096), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	lt_init();
	lt_check(base != MAP_FAILED, "mmap");
	for (int i = 0; i < 3; i++) {
		char *p = base + i * (LEN + 4096);

		munmap(p + LEN, 4096);		/* guard: keeps the regions apart */
		lt_check(!madvise(p, LEN, advice[i]), "madvise %s", name[i]);
		memset(p, 'a' + i, LEN);
		printf("%s %p\n", name[i], (void *)p);
	}
	lt_ready_wait_go();
	for (int i = 0; i < 3; i++) {
		char *p = base + i * (LEN + 4096);

		for (int j = 0; j < LEN; j++)
			lt_check(p[j] == 'a' + i, "pattern %s at %d", name[i], j);
	}
	printf("patterns ok\ndone\n");
	return 0;
}
