"""Lazy-mode scenarios that script something of their own (stats, a daemon killed). Every
program's description (progs/*.desc) says in which modes its scenarios run; the lazy runs of
the generic ones need nothing here."""
import json
import re
import time

from scenarios import expect, wait_console
from scenarios_migrate import (alive, baseline, final_line, go, kill_daemon, migrate,  # noqa: F401
                               restart_daemon, start, wait_for)


def stats(node):
    """The `migctl stats --json` records of a node, newest last."""
    return [json.loads(l) for l in node.ok('migctl stats --json').splitlines() if l.strip()]


def wait_released(node, pid, stall=90):
    """The source lets the original go: wait as long as its record of pid keeps changing
    (pages served, state), fail when it has not changed for `stall` seconds."""
    last, changed = None, time.time()
    while time.time() - changed < stall:
        ps = node.ok('migctl ps')
        if re.search(rf'^\d+\s+{pid}\s+out .*released after', ps, re.M):
            return
        rc, out = node.sh('migctl stats --json')
        now = (ps, out)
        if now != last:
            last, changed = now, time.time()
        time.sleep(0.5)
    raise AssertionError(f'{node.name}: pid {pid} never released (nothing moved for {stall} s): {node.ok("migctl ps")}')


def lazy_wire_bytes_follow_touched_pages(lab, t):
    """See lazytouch.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    want = final_line(baseline(n2, t.cmd, go_file=True), 'checksum')
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$', timeout=120)
    out = n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push --no-deputy', timeout=120)
    expect('migrated to node2' in out, out)
    go(n2, pid)
    out = wait_for(n2, r'^checksum |^FAIL', timeout=120)
    expect(final_line(out, 'checksum') == want, f'{final_line(out, "checksum")} != {want}')
    touched = int(re.search(r'touched (\d+) pages', out).group(1))
    wait_released(n1, pid)
    s = stats(n1)[-1]
    need = touched * 4096 + s['pages_eager'] * 4096 + s['image_bytes']
    sent = s['wire_bytes'] + s['image_bytes']
    expect(sent <= 1.15 * need, f'{sent} bytes on the wire for {need} needed ({s})')
    expect(s['pages_pushed'] == 0 and s['remote_faults'] > 0, s)


def lazy_push_releases_source(lab, t):
    """See lazytouch.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    mib = int(t.args.split()[0])
    want = final_line(baseline(n2, t.cmd, go_file=True), 'checksum')
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-deputy', timeout=120)
    # Go only once the source has let go: every page then came by the push (or a fault
    # of the restore), none because the program asked.
    wait_released(n1, pid)
    expect(not alive(n1, pid), 'the original still runs after release')
    go(n2, pid)
    s = stats(n2)[-1]
    arrived = s['pages_eager'] + s['pages_faulted'] + s['pages_prefetched'] + s['pages_pushed']
    expect(arrived >= mib * 256, f'only {arrived} pages arrived of {mib * 256}: {s}')
    expect(s['complete_ms'] > 0, s)
    out = wait_for(n2, r'^checksum |^FAIL', timeout=120)
    expect(final_line(out, 'checksum') == want, out[-200:])
    expect(wait_console(n2, rf'pid {pid}: pager complete'), 'no pager summary on node2')


def lazy_prefetch_cuts_faults(lab, t):
    """See lazytouch.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    faults = {}
    for args in ['', '--no-prefetch']:
        pid = start(n1, t.cmd, out='/tmp/scan.out')
        wait_for(n1, r'^ready$', path='/tmp/scan.out', timeout=120)
        n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push --no-deputy {args}', timeout=120)
        go(n2, pid)
        wait_for(n2, r'^checksum ', path='/tmp/scan.out', timeout=400)
        wait_released(n1, pid)
        faults[args] = stats(n1)[-1]['remote_faults']
        n1.ok('rm -f /tmp/scan.out'), n2.ok('rm -f /tmp/scan.out')
    on, off = faults[''], faults['--no-prefetch']
    expect(off >= 8 * on, f'{on} remote faults with prefetch, {off} without')


def moved_lazily_and_reading(n1, n2, cmd):
    """Start `cmd` (a program that waits for go, then reads its memory) on n1, move it to n2
    lazily without push, give it go; return its pid: it is reading from n1 now."""
    pid = start(n1, cmd)
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'migctl migrate {pid} --to {n2.name} --mode lazy --no-push --no-deputy', timeout=120)
    go(n2, pid)
    return pid


def ends_within(node, pid, seconds, why):
    """pid ends on node within `seconds`, or the scenario fails saying `why`."""
    deadline = time.time() + seconds
    while alive(node, pid) and time.time() < deadline:
        time.sleep(0.5)
    expect(not alive(node, pid), f'pid {pid} still runs on {node.name} {seconds} s after {why}')


def lazy_source_dies(lab, t):
    """See lazytouch.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = moved_lazily_and_reading(n1, n2, t.cmd)
    time.sleep(2)
    kill_daemon(n1)
    ends_within(n2, pid, 60, 'its source\'s daemon was killed')
    expect(re.search(rf'{pid}\s+in .*killed by SIGBUS', n2.ok('migctl ps')), n2.ok('migctl ps'))
    expect(wait_console(n2, rf'pid {pid}: lazy restore lost its source'), 'node2 did not log it')
    expect(wait_console(n1, rf'pid {pid}: controller gone after hand-over; the original ends'),
           'node1 did not end the original')
    expect(not alive(n1, pid), 'the original came back on node1')
    # A daemon started again on node1 serves afresh: it takes migrations (node2 reaches it),
    # and nothing of the broken one is in flight there.
    restart_daemon(n1)
    expect(n2.sh('migctl ping node1 --timeout 5', timeout=30)[0] == 0, 'node1\'s new daemon does not answer node2')
    expect(not re.search(r'serving|frozen|transferring', n1.ok('migctl ps')), n1.ok('migctl ps'))


def lazy_no_push_outlives_timeouts(lab, t):
    """See lazytouch.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    want = final_line(baseline(n2, t.cmd, go_file=True), 'checksum')
    # Short limits, so that the scenario outlives them in seconds: a peer's daemon may stay
    # silent 4 s, a frozen task with no decision resumes after 3 s.
    for node in (n1, n2):
        restart_daemon(node, '--peer-timeout 4 --hold-timeout 3')
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push --no-deputy', timeout=120)
    # The copy on node2 polls for its go file and touches nothing else: its fault channel
    # stays silent for three times the peer timeout, and the original stays handed over
    # four times longer than the hold timeout.
    time.sleep(12)
    expect(re.search(rf'^\d+\s+{pid}\s+out .*serving', n1.ok('migctl ps'), re.M),
           f'node1 no longer serves pid {pid}: {n1.ok("migctl ps")}')
    go(n2, pid)
    out = wait_for(n2, r'^checksum |^FAIL', timeout=120)
    expect(final_line(out, 'checksum') == want, f'{out[-200:]!r}: want {want}')
    wait_released(n1, pid)
    expect(stats(n1)[-1]['remote_faults'] > 0, 'no page came on demand')


def fork_and_child(node, pid, out):
    """progs/lazyfork.c after the go of pid on node: the child's pid, once it says it."""
    text = wait_for(node, r'^child \d+$|^FAIL', path=out, timeout=120)
    expect('FAIL' not in text, text[-300:])
    return int(re.search(r'^child (\d+)$', text, re.M).group(1))


def lazy_fork_child_moves_on(lab, t):
    """See lazyfork.desc."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)
    results = ('child checksum', 'child exited', 'parent checksum')
    # Never migrated, on node2: the child's go once it is there.
    base = '/tmp/base'
    pid = start(n2, t.cmd, out=base)
    wait_for(n2, r'^ready$', path=base, timeout=120)
    go(n2, pid)
    go(n2, fork_and_child(n2, pid, base))
    out = wait_for(n2, r'^done$|^FAIL', path=base, timeout=t.get('timeout', 240))
    want = [final_line(out, p) for p in results]
    expect(want[1] == 'child exited 7', out[-300:])
    n2.ok(f'rm -f {base}')
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push --no-deputy', timeout=120)
    go(n2, pid)
    child = fork_and_child(n2, pid, '/tmp/out')
    # Every page is still on node1; the child's address space misses them all.
    expect(re.search(rf'^\d+\s+{pid}\s+out .*serving', n1.ok('migctl ps'), re.M),
           f'node1 no longer serves pid {pid}: {n1.ok("migctl ps")}')
    rc, moved = n2.sh(f'migctl migrate {child} --to node3 {t.mode_args} --deputy', timeout=300)
    expect(rc == 0 and f'pid {child} migrated to node3' in moved, f'rc {rc}: {moved}')
    expect(wait_console(n2, rf'pid {child}: brought the rest of its memory here'), 'node2 did not log the pull')
    expect(alive(n3, child), f'the child {child} does not run on node3')
    go(n3, child)
    out = wait_for(n2, r'^done$|^FAIL', timeout=t.get('timeout', 240))
    got = [final_line(out, p) for p in results]
    expect(got == want, f'moved: {got}, never migrated: {want}')
    # node1 lets the parent's original go: every page went (the rest), the channel closed.
    wait_released(n1, pid)


SCRIPTED = {f.__name__: f for f in [
    lazy_wire_bytes_follow_touched_pages, lazy_push_releases_source, lazy_prefetch_cuts_faults,
    lazy_source_dies, lazy_no_push_outlives_timeouts, lazy_fork_child_moves_on]}
