/*
 * madvflags: mappings carrying madvise-only flags must keep them. It maps three 4-page
 * anonymous regions (with a guard page between them so they cannot merge), marks them
 * MADV_DONTFORK, MADV_DONTDUMP and MADV_WIPEONFORK, writes a pattern into each, prints their
 * addresses ("dontfork 0x...", "dontdump 0x...", "wipeonfork 0x...") and "ready", sleeps
 * WAIT_MS (default 3000) in 100 ms steps, then checks the patterns ("patterns ok" or
 * "FAIL ...") and prints "done".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define LEN (4 * 4096)

int main(int argc, char **argv)
{
	long wait_ms = argc > 1 ? atol(argv[1]) : 3000;
	static const int advice[3] = { MADV_DONTFORK, MADV_DONTDUMP, MADV_WIPEONFORK };
	static const char *name[3] = { "dontfork", "dontdump", "wipeonfork" };
	char *base = mmap(NULL, 3 * (LEN + 4096), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct timespec step = { 0, 100 * 1000 * 1000 };

	if (base == MAP_FAILED) {
		printf("FAIL mmap\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < 3; i++) {
		char *p = base + i * (LEN + 4096);

		munmap(p + LEN, 4096);		/* guard: keeps the regions apart */
		if (madvise(p, LEN, advice[i])) {
			printf("FAIL madvise %s\n", name[i]);
			return 1;
		}
		memset(p, 'a' + i, LEN);
		printf("%s %p\n", name[i], (void *)p);
	}
	printf("ready\n");
	for (long t = 0; t < wait_ms; t += 100)
		nanosleep(&step, NULL);
	for (int i = 0; i < 3; i++) {
		char *p = base + i * (LEN + 4096);

		for (int j = 0; j < LEN; j++)
			if (p[j] != 'a' + i) {
				printf("FAIL pattern %s at %d\n", name[i], j);
				return 1;
			}
	}
	printf("patterns ok\ndone\n");
	return 0;
}
