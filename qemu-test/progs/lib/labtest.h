/*
 * labtest: the small library of the lab's test programs (qemu-test/progs), in the manner of
 * CRIU's zdtm lib: announce "ready", wait for the harness's go signal, check values, print
 * one "FAIL ..." line on a failure. Every program has a description beside it
 * (progs/NAME.desc) that the runner reads: see qemu-test/tests.py.
 *
 * The go signal. A program that must be migrated at a known point prints "ready" and then
 * waits for "go" instead of sleeping a fixed time (a fixed wait is a race: on a slow kernel
 * the program may be done before the migration starts). Go is a FILE, not a signal: a
 * signal pending at the freeze is not migrated, and a file created before the move would be
 * on the wrong node (nodes share nothing). So the program polls, every LT_GO_POLL_MS in a
 * plain nanosleep (a nanosleep is migrated correctly, frozen or not), for
 *     /tmp/labtest-go.PID      (PID: its own pid, which a migration keeps)
 * and the harness creates that file on whichever node the program runs on when it wants it
 * to go on: after the migration on the target, or at once on the same node in a run that is
 * never migrated (`prog & touch /tmp/labtest-go.$!; wait $!`). The program removes the file
 * when it sees it (a program running as another user may fail to: the harness's clean-up
 * removes it then). No go within LT_GO_TIMEOUT_S seconds: "FAIL no go signal ..." and exit 1,
 * so a forgotten program never lingers.
 *
 * Output conventions (the harness matches whole lines): "ready" once set up; result lines the
 * description names (e.g. "verify ok", "checksum 0x..."); any failure is one line starting
 * "FAIL " followed by exit status 1. stdout is line-buffered (lt_init).
 */
#ifndef LABTEST_H
#define LABTEST_H

#define LT_GO_POLL_MS 20
#define LT_GO_TIMEOUT_S 900

/* Line-buffered stdout; call first. */
void lt_init(void);
/* Print "ready". */
void lt_ready(void);
/* Wait for the go file (see above), then remove it. */
void lt_wait_go(void);
/* lt_ready() then lt_wait_go(): the usual "migrate me now" point. */
void lt_ready_wait_go(void);
/* Print one line (printf format, newline added). */
void lt_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "FAIL " and the message, exit 1. */
void lt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* lt_fail(...) unless cond holds. */
#define lt_check(cond, ...) do { if (!(cond)) lt_fail(__VA_ARGS__); } while (0)
/* Sleep ms milliseconds (nanosleep, resumed after a signal handler ran). */
void lt_sleep_ms(long ms);

#endif
