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


def baseline(node, cmd):
    """Output of a run that is never migrated (run to the end in the foreground)."""
    return node.ok(f'{cmd} < /dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-', timeout=300)


def final_line(out, prefix):
    lines = [l for l in out.splitlines() if l.startswith(prefix)]
    expect(lines, f'no {prefix!r} line in {out[-300:]!r}')
    return lines[-1]


def moved_run(lab, cmd, ready=r'^ready$', finished=r'^checksum ', timeout=240):
    """Start cmd on node1, migrate it to node2 once `ready` shows, wait for `finished` on
    node2. Returns (node1 output, node2 output)."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, cmd)
    wait_for(n1, ready, timeout=120)
    migrate(n1, pid, n2)
    expect(gone(n1, pid), f'pid {pid} still runs on node1 after the migration')
    expect(not re.search(r'FAIL', text(n1)), text(n1))
    out2 = wait_for(n2, finished + '|^FAIL', timeout=timeout)
    expect(not re.search(r'^FAIL', out2, re.M), f'node2: {out2[-300:]!r}')
    return text(n1), out2


def heap_and_stack(lab):
    """Scenario 2: a static C program with malloc, brk and a deep stack finishes on node2
    with the checksum of a run that was never migrated."""
    want = final_line(baseline(lab.node(2), 'heapsum 40 0'), 'checksum')
    _, out = moved_run(lab, 'heapsum 40 100', ready=r'^round 5$')
    expect(final_line(out, 'checksum') == want, f'{final_line(out, "checksum")} != {want}')


def dynamic_tls_vdso(lab):
    """Scenario 3: a dynamically linked glibc program (ld.so, libc) keeps its thread-local
    variables and reads the clocks through the vdso after the move."""
    want = final_line(baseline(lab.node(2), 'tlsvdso 40 0'), 'tls')
    _, out = moved_run(lab, 'tlsvdso 40 100', ready=r'^round 5$', finished=r'^clock ok$')
    expect(final_line(out, 'tls') == want, f'{final_line(out, "tls")} != {want}')


def blocked_in_syscalls(lab):
    """Scenario 4: frozen inside nanosleep, the program wakes on node2 when its sleep is
    over and never sees EINTR; frozen in pause(), it stays there until a signal on node2."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'sleeper nanosleep 6')
    wait_for(n1, r'^ready$')
    time.sleep(1)
    migrate(n1, pid, n2)
    out = wait_for(n2, r'^elapsed_ms|^FAIL', timeout=60)
    expect('slept ok' in out and 'FAIL' not in out, out)
    ms = int(final_line(out, 'elapsed_ms').split()[1])
    # Realtime on two VMs agrees to about a second (RTC granularity at boot).
    expect(4500 <= ms <= 10000, f'slept {ms} ms for a 6 s nanosleep')
    pid = start(n1, 'sleeper pause', out='/tmp/out2')
    wait_for(n1, r'^ready$', path='/tmp/out2')
    migrate(n1, pid, n2)
    time.sleep(1)
    expect(alive(n2, pid) and 'pause returned' not in text(n2, '/tmp/out2'), 'pause ended by itself')
    n2.ok(f'kill -USR1 {pid}')
    out = wait_for(n2, r'^pause returned', path='/tmp/out2')
    expect('pause returned errno=4 handler=1' in out, out)


def vector_registers(lab):
    """Scenario 5: a loop that lives in YMM registers gives the same result as an unmigrated
    run, upper halves included."""
    want = final_line(baseline(lab.node(2), 'fpu'), 'fpu ')
    _, out = moved_run(lab, 'fpu', finished=r'^ymm_upper ok$|^xmm ok$')
    expect(final_line(out, 'fpu ') == want, f'{final_line(out, "fpu ")} != {want}')


def big_heap(lab):
    """Scenario 6: 256 MiB of heap arrive intact (every word checked, checksum as unmigrated)."""
    want = final_line(baseline(lab.node(2), 'bigheap 256 0'), 'checksum')
    _, out = moved_run(lab, 'bigheap 256 2000', finished=r'^checksum ')
    expect('verify ok' in out, out)
    expect(final_line(out, 'checksum') == want, f'{final_line(out, "checksum")} != {want}')


def signal_state(lab):
    """Scenario 7: handlers, mask, ignored signals and sigaltstack survive: signals sent on
    node2 run the right handler on the right stack."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'sighandlers')
    wait_for(n1, r'^ready$')
    migrate(n1, pid, n2)
    n2.ok(f'kill -HUP {pid}; kill -INT {pid}; kill -USR1 {pid}; sleep 0.3; kill -USR2 {pid}')
    out = wait_for(n2, r'^done$|^FAIL', timeout=30)
    for line in ['usr1 altstack=yes', 'usr2 altstack=no', 'mask ok', 'hup ignored', 'done']:
        expect(re.search(rf'^{line}$', out, re.M), f'missing {line!r}: {out!r}')


def private_file_mapping(lab):
    """Scenario 8: a private writable mapping of a file present on both nodes keeps its
    copy-on-write pages and still shows the file elsewhere."""
    n1, n2 = lab.node(1), lab.node(2)
    for n in (n1, n2):
        n.ok('dd if=/bin/busybox of=/tmp/data.bin bs=4096 count=100 2>/dev/null')
    want = final_line(baseline(n2, 'filemap /tmp/data.bin 0'), 'checksum')
    _, out = moved_run(lab, 'filemap /tmp/data.bin 3000')
    expect('filemap ok' in out, out)
    expect(final_line(out, 'checksum') == want, f'{final_line(out, "checksum")} != {want}')


def back_and_forth(lab):
    """Scenario 9: node1 -> node2 -> node1 -> node2, and the count is still whole."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'counter 200 40')
    path = [n1, n2, n1, n2]
    for i, (a, b) in enumerate(zip(path, path[1:])):
        time.sleep(1)
        migrate(a, pid, b)
        expect(gone(a, pid), f'hop {i + 1}: pid {pid} still on {a.name}')
    out2 = wait_for(n2, r'^done$', timeout=120)
    nums = [int(x) for x in (text(n1) + text(n2)).split() if x.isdigit()]
    expect(sorted(nums) == list(range(1, 201)), f'lost or repeated numbers: {len(nums)} of 200')


ALL = [counter_moves, heap_and_stack, dynamic_tls_vdso, blocked_in_syscalls, vector_registers,
       big_heap, signal_state, private_file_mapping, back_and_forth]
