/* runas UID GID CMD [ARGS...]: run CMD as an unprivileged user (busybox has no setpriv). */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: runas UID GID CMD [ARGS...]\n");
		return 2;
	}
	gid_t gid = (gid_t)atoi(argv[2]);
	if (setgroups(1, &gid) || setgid(gid) || setuid((uid_t)atoi(argv[1]))) {
		perror("runas");
		return 1;
	}
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
