/*
 * threads: a multi-threaded process, which migration must refuse (and leave running). A second
 * pthread sleeps; the main thread prints "ready" and sleeps too, up to 600 s in 1 s steps.
 * SIGTERM ends the process with status 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

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
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	if (pthread_create(&t, NULL, sleeper, NULL)) {
		printf("FAIL pthread_create\n");
		return 1;
	}
	printf("ready\n");
	for (int i = 0; i < 600; i++)
		sleep(1);
	return 0;
}
