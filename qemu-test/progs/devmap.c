/*
 * devmap: a process with a device mapping (the first page of /dev/mem, mapped private: the
 * driver maps raw page frames, VM_IO|VM_PFNMAP), which migration must refuse (and leave
 * running). Prints "ready", then sleeps up to 600 s in 1 s steps; "FAIL mmap errno=E" (exit 1)
 * if the mapping cannot be made.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	int fd = open("/dev/mem", O_RDONLY);
	void *p = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

	if (p == MAP_FAILED) {
		printf("FAIL mmap errno=%d\n", errno);
		return 1;
	}
	close(fd);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < 600; i++)
		sleep(1);
	return 0;
}
