"""Migration scenarios (stop-and-copy). Each starts a test program (qemu-test/progs) on a
node with its output appended to a file, migrates it mid-run, and checks what the program
itself printed: on the source before the freeze, on the target after it."""
import re
import time

from lab import LabError
from scenarios import expect, wait_console


def start(node, cmd, out='/tmp/out'):
    """Start `cmd` in the background, output appended to `out`; return its pid."""
    # The lab agent's own descriptors (its serial line) are not the program's.
    pid = node.ok(f'{cmd} >> {out} 2>&1 < /dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- & echo $!').strip()
    expect(pid.isdigit(), f'no pid from {cmd!r}: {pid!r}')
    return int(pid)


def text(node, path='/tmp/out'):
    rc, out = node.sh(f'cat {path} 2>/dev/null')
    return out if rc == 0 else ''


def wait_for(node, pattern, path='/tmp/out', timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, text(node, path), re.M):
            return text(node, path)
        time.sleep(0.3)
    raise LabError(f'{node.name}: no {pattern!r} in {path} within {timeout}s; it has: {text(node, path)[-400:]!r}')


def alive(node, pid):
    rc, _ = node.sh(f'kill -0 {pid}')
    return rc == 0


def migrate(src, pid, dst, timeout=300, expect_ok=True):
    rc, out = src.sh(f'migctl migrate {pid} --to {dst.name}', timeout=timeout)
    if expect_ok:
        expect(rc == 0, f'migrate {pid} {src.name} -> {dst.name}: rc {rc}: {out!r}')
        expect(re.search(rf'pid {pid} migrated to {dst.name}', out), out)
    return rc, out


def gone(node, pid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not alive(node, pid):
            return True
        time.sleep(0.2)
    return False


def counter_moves(lab):
    """Scenario 1: a libc-free program that blocks all signals counts on node1, is migrated
    mid-count and finishes on node2: every number once, none missing, in order."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'counter 150 40')
    wait_for(n1, r'^5$')
    migrate(n1, pid, n2)
    expect(gone(n1, pid), f'pid {pid} still runs on node1 after the migration')
    wait_for(n2, r'^done$', timeout=120)
    before = text(n1).split()
    after = text(n2).split()
    expect(before[0] == 'ready' and after[-1] == 'done', f'{before[:2]} ... {after[-2:]}')
    numbers = [int(x) for x in before[1:] + after[:-1]]
    expect(numbers == list(range(1, 151)), f'sequence broken: node1 ended at {before[-1]}, node2 began at {after[:3]}')
    expect(len(after) > 10, f'too little progress on node2: {after}')


ALL = [counter_moves]
