/*
 * ptyrun: a terminal for the lab, standing in for a user's terminal emulator and shell.
 *   ptyrun DIR CMD...   runs CMD on a new pseudo-terminal (its controlling terminal, in a
 *                       session of its own, in the foreground) and waits for it, as a shell
 *                       would. What the user types is written into DIR/keys (a FIFO ptyrun
 *                       makes): each line read from it goes to the terminal as typed keys,
 *                       with C escapes: \n (Enter), \003 (^C), \x1a... A line
 *                       "!resize ROWS COLS" resizes the terminal instead; "!latency N"
 *                       types 'a' N times, timing each from the key to its echo on the
 *                       screen, writes "latency n=N p50_us=.. p90_us=.. max_us=.." to
 *                       DIR/latency and erases the line (^U). Everything the
 *                       terminal shows goes to DIR/screen; when CMD ends, DIR/status says
 *                       "exit N" or "signal N" as $? would tell.
 * Prints its own pid to DIR/ptyrun.pid and CMD's to DIR/pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char path[5][512];

static void put(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* DIR/status: what $? would say of `status`. */
static void report(int status)
{
	char text[64];

	if (WIFEXITED(status))
		snprintf(text, sizeof(text), "exit %d\n", WEXITSTATUS(status));
	else
		snprintf(text, sizeof(text), "signal %d\n", WTERMSIG(status));
	put(path[2], text);
}

static long long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static int by_value(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* "!latency N": N keys, each timed from its write to its echo; what the terminal shows
 * meanwhile still goes to the screen. */
static void latency(int master, int screen, int n)
{
	long long took[1000];
	char buf[4096], text[160];
	int done = 0;

	if (n > 1000)
		n = 1000;
	for (int i = 0; i < n; i++) {
		long long t0 = now_us();
		int echoed = 0;

		if (write(master, "a", 1) != 1)
			break;
		while (!echoed) {
			struct pollfd p = { master, POLLIN, 0 };
			ssize_t got;

			if (poll(&p, 1, 5000) <= 0)
				break;
			got = read(master, buf, sizeof(buf));
			if (got <= 0)
				break;
			if (write(screen, buf, got) != got)
				return;
			echoed = memchr(buf, 'a', got) != NULL;
		}
		if (!echoed)
			break;
		took[done++] = now_us() - t0;
		usleep(20000);
	}
	qsort(took, done, sizeof(took[0]), by_value);
	snprintf(text, sizeof(text), "latency n=%d p50_us=%lld p90_us=%lld max_us=%lld\n", done,
		 done ? took[done / 2] : -1, done ? took[done * 9 / 10] : -1, done ? took[done - 1] : -1);
	put(path[4], text);
	if (write(master, "\025", 1) != 1)
		return;
}

/* C escapes of one line of keys into bytes; returns the count. */
static size_t unescape(const char *s, char *out)
{
	size_t n = 0;

	while (*s) {
		if (*s != '\\' || !s[1]) {
			out[n++] = *s++;
			continue;
		}
		s++;
		if (*s == 'n') {
			out[n++] = '\n';
			s++;
		} else if (*s == 'r') {
			out[n++] = '\r';
			s++;
		} else if (*s == 'x') {
			out[n++] = (char)strtol(s + 1, (char **)&s, 16);
		} else if (*s >= '0' && *s <= '7') {
			char oct[4] = { 0 };

			strncpy(oct, s, 3);
			out[n++] = (char)strtol(oct, NULL, 8);
			s += strspn(s, "01234567") > 3 ? 3 : strspn(s, "01234567");
		} else {
			out[n++] = *s++;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	char buf[4096], line[1024], bytes[1024], text[64];
	int master, keys, screen, status;
	size_t have = 0;
	pid_t child;

	if (argc < 3) {
		fprintf(stderr, "usage: ptyrun DIR CMD...\n");
		return 2;
	}
	snprintf(path[0], sizeof(path[0]), "%s/keys", argv[1]);
	snprintf(path[1], sizeof(path[1]), "%s/screen", argv[1]);
	snprintf(path[2], sizeof(path[2]), "%s/status", argv[1]);
	snprintf(path[3], sizeof(path[3]), "%s/pid", argv[1]);
	snprintf(path[4], sizeof(path[4]), "%s/latency", argv[1]);
	unlink(path[0]);
	if (mkfifo(path[0], 0600))
		return 3;
	screen = open(path[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (screen < 0)
		return 3;
	child = forkpty(&master, NULL, NULL, &ws);
	if (child < 0)
		return 4;
	if (child == 0) {
		sigset_t none;

		/* As an interactive shell starts a job: default dispositions (a shell's `&`
		 * ignores ^C and ^\ for its background jobs), nothing blocked. */
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	snprintf(text, sizeof(text), "%d\n", child);
	put(path[3], text);
	/* Read-write, so that the FIFO never reports end of file between writers. */
	keys = open(path[0], O_RDWR | O_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { master, POLLIN, 0 }, { keys, POLLIN, 0 } };

		if (poll(p, 2, 200) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			ssize_t n = read(master, buf, sizeof(buf));

			if (n <= 0)
				break; /* EIO: the child and every holder of the terminal are gone */
			if (write(screen, buf, n) != n)
				return 5;
		}
		if (p[1].revents & POLLIN) {
			ssize_t n = read(keys, line + have, sizeof(line) - 1 - have);
			char *nl;

			if (n > 0)
				have += n;
			line[have] = 0;
			while ((nl = strchr(line, '\n'))) {
				*nl = 0;
				if (!strncmp(line, "!latency ", 9)) {
					latency(master, screen, atoi(line + 9));
				} else if (!strncmp(line, "!resize ", 8)) {
					sscanf(line + 8, "%hu %hu", &ws.ws_row, &ws.ws_col);
					ioctl(master, TIOCSWINSZ, &ws);
				} else {
					size_t k = unescape(line, bytes);

					if (write(master, bytes, k) != (ssize_t)k)
						return 5;
				}
				have -= nl + 1 - line;
				memmove(line, nl + 1, have + 1);
			}
		}
		if (waitpid(child, &status, WNOHANG) == child) {
			/* What it printed last is still in the terminal: read it out. */
			ssize_t n;

			fcntl(master, F_SETFL, O_NONBLOCK);
			while ((n = read(master, buf, sizeof(buf))) > 0)
				if (write(screen, buf, n) != n)
					return 5;
			report(status);
			return 0;
		}
	}
	if (waitpid(child, &status, 0) == child)
		report(status);
	return 0;
}
