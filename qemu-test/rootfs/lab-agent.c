/*
 * The lab agent: PID 1 of a lab node once init has set it up; runs the commands that
 * qemu-test/run sends over a serial line (lab.py, Node.sh).
 *
 * Protocol. Each request is one line "ID LEN BASE64(script) ID" (LEN: characters of the
 * base64). The agent answers "@@ACK ID" at once, then, once the script has run (as
 * `sh /tmp/.lab-cmd` in /, stdin /dev/null, stdout and stderr to /tmp/.lab-out),
 * "@@BEGIN ID", the output in base64, "@@END ID RC". Base64 keeps the serial line free of
 * control characters and of any quoting problem.
 *
 * A busy node can lose bytes of a line on the way in (seen: the start of a line gone while a
 * CPU-bound program ran). A line whose two IDs differ or are not numbers, whose payload is
 * not LEN long or does not decode, is answered "@@BAD" and not run; the host sends a request
 * again when no ACK comes. A request seen before (the ACK was lost) is acknowledged again but
 * not run twice.
 *
 * Why C and not a shell script: on the debug kernel every exec costs 0.1-0.2 s, and the shell
 * agent needed three per request (base64 -d, sh, base64): a round trip for `true` took
 * 0.4-0.6 s, and the suite makes thousands. Here a request costs the one exec of the script's
 * shell. As PID 1 it also reaps the orphans that end up as its children.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CMD_FILE "/tmp/.lab-cmd"
#define OUT_FILE "/tmp/.lab-out"
#define MAX_LINE (16 << 20)

static int tty;

static void put(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(tty, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			_exit(1); /* the host is gone: nothing left to serve */
		}
		s += w;
		n -= (size_t)w;
	}
}

static void say(const char *fmt, unsigned long long id, int rc, int with_rc)
{
	char b[96];
	int n = with_rc ? snprintf(b, sizeof(b), fmt, id, rc) : snprintf(b, sizeof(b), fmt, id);

	put(b, (size_t)n);
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode n base64 characters into out (room for n / 4 * 3); -1 if malformed. */
static long b64decode(const char *in, size_t n, unsigned char *out)
{
	size_t i, o = 0;

	if (n % 4)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], pad = 0, k;

		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val((unsigned char)in[i + k])) < 0) {
				return -1;
			}
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)(v[2] << 6 | v[3]);
	}
	return (long)o;
}

/* Send the file's contents in base64, 76 characters a line (as base64(1) writes it). */
static void send_b64_file(const char *path)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char in[57];
	char line[80];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	/* 57 bytes make one full line of 76 characters; a short read only ends early. */
	for (;;) {
		size_t got = 0, i, o = 0;

		while (got < sizeof(in) && (n = read(fd, in + got, sizeof(in) - got)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			got += (size_t)n;
		}
		if (!got)
			break;
		for (i = 0; i < got; i += 3) {
			unsigned v = in[i] << 16 | (i + 1 < got ? in[i + 1] << 8 : 0) | (i + 2 < got ? in[i + 2] : 0);

			line[o++] = alphabet[v >> 18 & 63];
			line[o++] = alphabet[v >> 12 & 63];
			line[o++] = i + 1 < got ? alphabet[v >> 6 & 63] : '=';
			line[o++] = i + 2 < got ? alphabet[v & 63] : '=';
		}
		line[o++] = '\n';
		put(line, o);
		if (got < sizeof(in))
			break;
	}
	close(fd);
}

/* Run the script; its exit status as the shell reports one (128 + signal if killed). */
static int run_script(void)
{
	pid_t child = fork(), p;
	int st;

	if (child < 0)
		return 127;
	if (child == 0) {
		int in = open("/dev/null", O_RDONLY), out = open(OUT_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (in < 0 || out < 0 || chdir("/") || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		close(in);
		close(out);
		execl("/bin/sh", "sh", CMD_FILE, (char *)NULL);
		_exit(127);
	}
	/* Orphans are ours too (we are PID 1): reap them while waiting for the script. */
	while ((p = waitpid(-1, &st, 0)) != child)
		if (p < 0 && errno != EINTR)
			return 127;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Digits only, at least one; its value in *v. */
static int number(const char *s, unsigned long long *v)
{
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return 0;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0;
}

/* One request line (without its newline): run it, or say why not. */
static void serve(char *line, unsigned long long *last, int *have_last)
{
	char *f[5] = {0};
	int nf = 0;
	unsigned long long id, id2, len;
	unsigned char *script;
	long n;
	int fd, rc;

	for (char *tok = strtok(line, " \t\r"); tok; tok = strtok(NULL, " \t\r"))
		if (nf < 5)
			f[nf++] = tok;
		else
			nf = 6;
	if (nf == 0)
		return;
	if (nf != 4 || !number(f[0], &id) || !number(f[1], &len) || !number(f[3], &id2) || id != id2 ||
	    strlen(f[2]) != len) {
		put("@@BAD\n", 6);
		return;
	}
	if (*have_last && id == *last) {
		say("@@ACK %llu\n", id, 0, 0);
		return;
	}
	script = malloc(len / 4 * 3 + 1);
	if (!script || (n = b64decode(f[2], len, script)) < 0) {
		free(script);
		put("@@BAD\n", 6);
		return;
	}
	fd = open(CMD_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, script, (size_t)n) != n) {
		if (fd >= 0)
			close(fd);
		free(script);
		put("@@BAD\n", 6);
		return;
	}
	close(fd);
	free(script);
	*last = id;
	*have_last = 1;
	say("@@ACK %llu\n", id, 0, 0);
	rc = run_script();
	say("@@BEGIN %llu\n", id, 0, 0);
	send_b64_file(OUT_FILE);
	say("@@END %llu %d\n", id, rc, 1);
}

int main(int argc, char **argv)
{
	struct termios t;
	static char buf[65536];
	char *line = NULL;
	size_t used = 0, cap = 0;
	unsigned long long last = 0;
	int have_last = 0;

	if (argc != 2)
		return 2;
	tty = open(argv[1], O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0)
		return 1;
	if (tcgetattr(tty, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(tty, TCSANOW, &t);
	}
	put("@@READY\n", 8);
	for (;;) {
		struct pollfd pfd = { .fd = tty, .events = POLLIN };
		ssize_t n;

		/* Orphans are reaped as they end, also while no request comes (a real init does
		 * so too: a zombie keeps its pid, which a migration back to this node needs). */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (poll(&pfd, 1, 100) == 0)
			continue;
		n = read(tty, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (n == 0) {
			sleep(1); /* no carrier: wait for the host rather than spin */
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (line) {
					line[used] = 0;
					serve(line, &last, &have_last);
				}
				used = 0;
				continue;
			}
			if (used + 2 > cap) {
				size_t ncap = cap ? cap * 2 : 4096;
				char *nl;

				if (ncap > MAX_LINE) {
					used = 0; /* a line this long is garbage: drop it */
					continue;
				}
				nl = realloc(line, ncap);
				if (!nl)
					return 1;
				line = nl;
				cap = ncap;
			}
			line[used++] = buf[i];
		}
	}
}
