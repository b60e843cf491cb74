/*
 * devmap: a process with a device mapping (the first page of /dev/mem, mapped private: the
 * driver maps raw page frames, VM_IO|VM_PFNMAP), which migration must refuse (and leave
 * running). Prints "ready", then waits for the harness's go (labtest.h) and exits 0 with
 * "done"; "FAIL mmap errno=E" (exit 1) if the mapping cannot be made.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/labtest.h"

int main(void)
{
	int fd = open("/dev/mem", O_RDONLY);
	void *p = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

	lt_init();
	lt_check(p != MAP_FAILED, "mmap errno=%d", errno);
	close(fd);
	lt_ready_wait_go();
	lt_say("done");
	return 0;
}
