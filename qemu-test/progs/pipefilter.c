/*
 * pipefilter MS: the middle of a pipeline. Fills a seeded 4 MiB heap (anonymous memory, so
 * that a lazy move has pages to fetch), then for each line of stdin writes "N LINE SUM" to
 * stdout (N counts lines, SUM mixes the line into a checksum of the heap), waiting MS
 * milliseconds after each; at end of input writes "end N" and exits 0. Its output depends
 * only on its input: the same pipeline moved or not must give the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	static uint64_t heap[1 << 19];
	uint64_t x = 0x243f6a8885a308d3ull, sum = 0;
	struct timespec pause = { 0, (argc > 1 ? atol(argv[1]) : 0) * 1000000L };
	char line[512];
	long n = 0;

	for (size_t i = 0; i < sizeof(heap) / sizeof(heap[0]); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		heap[i] = x;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		n++;
		for (size_t i = (size_t)n * 4099 % (1 << 19), k = 0; k < 512; k++, i = (i + 1021) % (1 << 19))
			sum = sum * 31 + heap[i] + (uint64_t)strlen(line);
		printf("%ld %s %016llx\n", n, line, (unsigned long long)sum);
		nanosleep(&pause, NULL);
	}
	printf("end %ld\n", n);
	return 0;
}
