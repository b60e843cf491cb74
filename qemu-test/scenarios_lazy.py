"""Lazy-mode scenarios: every stop-and-copy scenario again with `--mode lazy` (memory follows
on demand, with prefetch and push), plus what only lazy mode has."""
import functools

import scenarios_migrate as sm

# The stop-and-copy scenarios that migrate a running program (refusals are mode-blind).
AGAIN = [sm.counter_moves, sm.heap_and_stack, sm.dynamic_tls_vdso, sm.blocked_in_syscalls,
         sm.vector_registers, sm.big_heap, sm.signal_state, sm.private_file_mapping,
         sm.back_and_forth, sm.user_migrates_own_process, sm.madvise_flags_survive]


def lazy(f):
    @functools.wraps(f)
    def run(lab):
        sm.MODE_ARGS = '--mode lazy'
        try:
            f(lab)
        finally:
            sm.MODE_ARGS = '--mode eager'
    run.__name__ = 'lazy_' + f.__name__
    run.__doc__ = 'Lazy mode: ' + f.__doc__.strip()
    return run


ALL = [lazy(f) for f in AGAIN]


import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

from scenarios import expect, wait_console  # noqa: E402
from scenarios_migrate import (alive, baseline, final_line, migrate, start, text,  # noqa: E402
                               wait_for)


def stats(node):
    """The `migctl stats --json` records of a node, newest last."""
    return [json.loads(l) for l in node.ok('migctl stats --json').splitlines() if l.strip()]


def wait_released(node, pid, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(rf'^\d+\s+{pid}\s+out .*released after', node.ok('migctl ps'), re.M):
            return
        time.sleep(0.5)
    raise AssertionError(f'{node.name}: pid {pid} never released: {node.ok("migctl ps")}')


def lazy_wire_bytes_follow_touched_pages(lab):
    """256 MiB filled, 10% read after a lazy migration without push: the bytes on the wire
    stay within 1.15 x (touched pages + what the task needed to resume + state image), the
    checksum is right, and the source lets go when the task ends."""
    n1, n2 = lab.node(1), lab.node(2)
    want = final_line(baseline(n2, 'lazytouch 256 10 0'), 'checksum')
    pid = start(n1, 'lazytouch 256 10 2000')
    wait_for(n1, r'^ready$', timeout=120)
    out = n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push', timeout=120)
    expect('migrated to node2' in out, out)
    out = wait_for(n2, r'^checksum |^FAIL', timeout=120)
    expect(final_line(out, 'checksum') == want, f'{final_line(out, "checksum")} != {want}')
    touched = int(re.search(r'touched (\d+) pages', out).group(1))
    wait_released(n1, pid)
    s = stats(n1)[-1]
    need = touched * 4096 + s['pages_eager'] * 4096 + s['image_bytes']
    sent = s['wire_bytes'] + s['image_bytes']
    expect(sent <= 1.15 * need, f'{sent} bytes on the wire for {need} needed ({s})')
    expect(s['pages_pushed'] == 0 and s['remote_faults'] > 0, s)


def lazy_push_releases_source(lab):
    """With push on, every page arrives on the target, the source releases the original,
    and the task's memory is intact."""
    n1, n2 = lab.node(1), lab.node(2)
    want = final_line(baseline(n2, 'lazytouch 64 100 0'), 'checksum')
    pid = start(n1, 'lazytouch 64 100 6000')
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'migctl migrate {pid} --to node2 --mode lazy', timeout=120)
    wait_released(n1, pid)
    expect(not alive(n1, pid), 'the original still runs after release')
    s = stats(n2)[-1]
    arrived = s['pages_eager'] + s['pages_faulted'] + s['pages_prefetched'] + s['pages_pushed']
    expect(arrived >= 64 * 256, f'only {arrived} pages arrived of {64 * 256}: {s}')
    expect(s['complete_ms'] > 0, s)
    out = wait_for(n2, r'^checksum |^FAIL', timeout=120)
    expect(final_line(out, 'checksum') == want, out[-200:])
    expect(wait_console(n2, rf'pid {pid}: pager complete'), 'no pager summary on node2')


def lazy_prefetch_cuts_faults(lab):
    """A sequential scan of 8 MiB after a lazy migration without push: the prefetch window
    cuts remote faults at least 8 x compared with prefetch off. (8 MiB keeps the run with
    prefetch off, one round trip per page, short under TCG; `make bench` scans 256 MiB.)"""
    n1, n2 = lab.node(1), lab.node(2)
    faults = {}
    for args in ['', '--no-prefetch']:
        pid = start(n1, 'lazytouch 8 100 1500', out='/tmp/scan.out')
        wait_for(n1, r'^ready$', path='/tmp/scan.out', timeout=120)
        n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push {args}', timeout=120)
        wait_for(n2, r'^checksum ', path='/tmp/scan.out', timeout=400)
        wait_released(n1, pid)
        faults[args] = stats(n1)[-1]['remote_faults']
        n1.ok('rm -f /tmp/scan.out'), n2.ok('rm -f /tmp/scan.out')
    on, off = faults[''], faults['--no-prefetch']
    expect(off >= 8 * on, f'{on} remote faults with prefetch, {off} without')


def lazy_memory_semantics(lab):
    """Lazily restored memory behaves like anonymous memory: fork (the child sees the same
    data), MADV_DONTNEED reads zeros, copy-on-write, mremap, mprotect, brk growth."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'lazyops 2000')
    wait_for(n1, r'^ready$')
    n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push', timeout=120)
    out = wait_for(n2, r'^done$|^FAIL', timeout=120)
    for line in ['fork ok', 'dontneed ok', 'cow ok', 'mremap ok', 'mprotect ok', 'brk ok']:
        expect(re.search(rf'^{line}$', out, re.M), f'missing {line!r}: {out!r}')


def lazy_source_dies(lab):
    """The source's daemon is killed in the lazy phase: the migrated task ends with SIGBUS
    on its next missing page, both nodes log it, nothing hangs and no kernel complains."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'lazytouch 64 100 1000 3000')
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'migctl migrate {pid} --to node2 --mode lazy --no-push', timeout=120)
    time.sleep(2)
    n1.ok("kill -9 $(pidof migctl | tr ' ' '\\n' | sort -n | head -1)")  # the daemon
    deadline = time.time() + 60
    while alive(n2, pid) and time.time() < deadline:
        time.sleep(0.5)
    expect(not alive(n2, pid), f'pid {pid} still runs on node2')
    expect(re.search(rf'{pid}\s+in .*killed by SIGBUS', n2.ok('migctl ps')), n2.ok('migctl ps'))
    expect(wait_console(n2, rf'pid {pid}: lazy restore lost its source'), 'node2 did not log it')
    expect(wait_console(n1, rf'pid {pid}: controller gone after hand-over; the original ends'),
           'node1 did not end the original')
    expect(not alive(n1, pid), 'the original came back on node1')


ALL += [lazy_wire_bytes_follow_touched_pages, lazy_push_releases_source,
        lazy_prefetch_cuts_faults, lazy_memory_semantics, lazy_source_dies]
