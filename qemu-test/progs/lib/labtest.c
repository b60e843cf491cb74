/* labtest: see labtest.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "labtest.h"

void lt_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void lt_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void lt_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(1);
}

void lt_sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, ms % 1000 * 1000000 };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

void lt_ready(void)
{
	lt_say("ready");
}

void lt_wait_go(void)
{
	char path[64];
	long waited = 0;

	snprintf(path, sizeof path, "/tmp/labtest-go.%d", (int)getpid());
	while (access(path, F_OK)) {
		if (waited >= LT_GO_TIMEOUT_S * 1000L)
			lt_fail("no go signal (%s) within %d s", path, LT_GO_TIMEOUT_S);
		lt_sleep_ms(LT_GO_POLL_MS);
		waited += LT_GO_POLL_MS;
	}
	unlink(path);
}

void lt_ready_wait_go(void)
{
	lt_ready();
	lt_wait_go();
}
