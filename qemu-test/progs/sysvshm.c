/*
 * sysvshm: a process with a SysV shared memory segment attached (1 MiB, every page touched),
 * which migration must refuse (and leave running). The segment is marked for removal right
 * after shmat, so it goes away with the process however that ends. Prints "ready", then
 * sleeps up to 600 s in 1 s steps. SIGTERM ends it with status 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
	char *m = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	if (m == (void *)-1) {
		printf("FAIL shmget/shmat\n");
		return 1;
	}
	memset(m, 0xa5, 1 << 20);
	printf("ready\n");
	for (int i = 0; i < 600; i++)
		sleep(1);
	return 0;
}
