/*
 * sysvshm: a process with a SysV shared memory segment attached (1 MiB, every page touched),
 * which migration must refuse (and leave running). The segment is marked for removal right
 * after shmat, so it goes away with the process however that ends. Prints "ready", then waits
 * for the harness's go (labtest.h) and exits 0 with "done". SIGTERM ends it with status 0.
 */
#include <signal.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

#include "lib/labtest.h"

static void on_term(int sig) { (void)sig; _exit(0); }

int main(void)
{
	lt_init();
	signal(SIGTERM, on_term);
	int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
	char *m = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	lt_check(m != (void *)-1, "shmget/shmat");
	memset(m, 0xa5, 1 << 20);
	lt_ready_wait_go();
	lt_say("done");
	return 0;
}
