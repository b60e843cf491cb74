/*
 * threads: a multi-threaded process, which migration must refuse (and leave running). A second
 * pthread sleeps; the main thread prints "ready", waits for the harness's go (labtest.h) and
 * exits 0 with "done". SIGTERM ends the process with status 0.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "lib/labtest.h"

static void on_term(int sig) { (void)sig; _exit(0); }

static void *sleeper(void *arg)
{
	for (;;)
		sleep(1);
	return arg;
}

int main(void)
{
	pthread_t t;
	lt_init();
	signal(SIGTERM, on_term);
	lt_check(!pthread_create(&t, NULL, sleeper, NULL), "pthread_create");
	lt_ready_wait_go();
	lt_say("done");
	return 0;
}
