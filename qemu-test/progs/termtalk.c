/*
 * termtalk: a line-based interactive program on a terminal, as a user's mail reader or
 * calculator would be. Prints "ready" (and a prompt "> "), then per line typed:
 *   "size"      prints the terminal's size: "size ROWS COLS";
 *   "quit N"    exits with status N;
 *   "tty"       opens /dev/tty (its controlling terminal) and writes "via /dev/tty" there
 *               (or prints why it cannot);
 *   "raw"       switches the terminal to raw mode ("raw on"), reads keys one at a time and
 *               prints each as "key NN" (hex) until 'q', then restores the modes it found
 *               ("cooked");
 *   any other   prints "got: LINE (N)" with N the count of lines so far and the sum of a
 *               seeded heap (anonymous memory, so that a lazy move has pages to fetch).
 * A SIGWINCH prints "winch ROWS COLS" at the next prompt. ^C ends it by SIGINT (no handler).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t winched;

static void on_winch(int sig) { (void)sig; winched = 1; }

static void size(const char *what)
{
	struct winsize ws;

	if (ioctl(0, TIOCGWINSZ, &ws) == 0)
		printf("%s %u %u\n", what, ws.ws_row, ws.ws_col);
	else
		printf("%s unknown\n", what);
}

int main(void)
{
	static uint64_t heap[1 << 19]; /* 4 MiB */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	char line[512];
	int lines = 0;

	for (size_t i = 0; i < sizeof(heap) / sizeof(heap[0]); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		heap[i] = x;
	}
	struct sigaction sa = { .sa_handler = on_winch };
	sigaction(SIGWINCH, &sa, NULL);
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n> ");
	for (;;) {
		if (!fgets(line, sizeof(line), stdin)) {
			if (!winched) {
				printf("eof\n");
				return 3;
			}
			clearerr(stdin);
			line[0] = 0;
		}
		if (winched) {
			winched = 0;
			size("winch");
		}
		line[strcspn(line, "\n")] = 0;
		if (!line[0]) {
			printf("> ");
			continue;
		}
		if (!strcmp(line, "size")) {
			size("size");
		} else if (!strncmp(line, "quit ", 5)) {
			return atoi(line + 5);
		} else if (!strcmp(line, "tty")) {
			int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);

			if (fd < 0) {
				printf("no /dev/tty: %s\n", strerror(errno));
			} else {
				if (write(fd, "via /dev/tty\n", 13) != 13 || !isatty(fd))
					printf("/dev/tty is not a terminal\n");
				close(fd);
			}
		} else if (!strcmp(line, "raw")) {
			struct termios old, raw;
			char c;

			tcgetattr(0, &old);
			raw = old;
			cfmakeraw(&raw);
			tcsetattr(0, TCSANOW, &raw);
			printf("raw on\r\n");
			while (read(0, &c, 1) == 1 && c != 'q')
				printf("key %02x\r\n", (unsigned char)c);
			tcsetattr(0, TCSANOW, &old);
			printf("cooked\n");
		} else {
			uint64_t sum = 0;

			lines++;
			for (size_t i = 0; i < sizeof(heap) / sizeof(heap[0]); i++)
				sum = sum * 31 + heap[i] + (uint64_t)lines;
			printf("got: %s (%d) %016llx\n", line, lines, (unsigned long long)sum);
		}
		printf("> ");
	}
}
