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


# The mode of every migration of a scenario here: stop-and-copy; scenarios_lazy.py runs
# them again with --mode lazy.
MODE_ARGS = '--mode eager'


def migrate(src, pid, dst, timeout=300, expect_ok=True):
    rc, out = src.sh(f'migctl migrate {pid} --to {dst.name} {MODE_ARGS}', timeout=timeout)
    if expect_ok:
        expect(rc == 0, f'migrate {pid} {src.name} -> {dst.name}: rc {rc}: {out!r}')
        expect(re.search(rf'pid {pid} migrated to {dst.name}', out), out)
    return rc, out


def gone(node, pid, timeout=None):
    # In lazy mode the original stays, parked, as the page server until the push is done.
    timeout = timeout or (240 if 'lazy' in MODE_ARGS else 10)
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


def refuse(node, pid, dst, why, rc=11, via=''):
    """A refused migration: one line naming the reason, the given exit code."""
    out_rc, out = node.sh(f'{via}migctl migrate {pid} --to {dst}', timeout=60)
    expect(out_rc == rc, f'migrate {pid}: rc {out_rc} (want {rc}): {out!r}')
    expect(re.search(why, out), f'migrate {pid}: {out!r} does not say {why!r}')
    expect(len(out.strip().splitlines()) == 1, f'more than one line: {out!r}')


def untouched(node, pid, path):
    """The process still runs where it was and still makes progress."""
    expect(alive(node, pid), f'pid {pid} died on {node.name}')
    before = text(node, path)
    time.sleep(1.5)
    expect(text(node, path) != before, f'pid {pid} stopped making progress: {before[-80:]!r}')


def refusals(lab):
    """Every kind of task that cannot travel is refused with its reason, and the task runs
    on untouched: no such pid, kernel thread, pid 1, threads, shared memory (anonymous and
    SysV), a device mapping, a traced process, a caller who may not ptrace it."""
    n1 = lab.node(1)
    refuse(n1, 99999, 'node2', r'pid 99999: no such process')
    refuse(n1, 2, 'node2', r'kernel thread')
    refuse(n1, 1, 'node2', r'pid 1')
    for prog, why in [('threads', r'multi-threaded'), ('shmanon', r'shared memory .* at 0x'),
                      ('sysvshm', r'shared memory .* at 0x'), ('devmap', r'device mapping at 0x')]:
        pid = start(n1, prog, out=f'/tmp/{prog}.out')
        wait_for(n1, r'^ready$', path=f'/tmp/{prog}.out')
        refuse(n1, pid, 'node2', why)
        expect(alive(n1, pid), f'{prog} died')
        n1.ok(f'kill {pid}')
    pid = start(n1, 'counter 1000 50', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    tracer = start(n1, f'tracer {pid}', out='/tmp/t.out')
    wait_for(n1, r'^traced$', path='/tmp/t.out')
    refuse(n1, pid, 'node2', r'traced')
    n1.ok(f'kill {tracer}')
    time.sleep(0.5)
    refuse(n1, pid, 'node2', r'may not ptrace it', via='runas 1000 1000 ')
    untouched(n1, pid, '/tmp/c.out')
    n1.ok(f'kill -9 {pid}')


def refusals_on_the_target(lab):
    """The target refuses what it cannot hold: a mapped file it lacks or holds in another
    version (checked by content), a pid it uses; an unreachable or unauthenticated target is
    refused before the process is touched. The process runs on, untouched."""
    n1, n2 = lab.node(1), lab.node(2)
    n1.ok('dd if=/bin/busybox of=/tmp/data.bin bs=4096 count=50 2>/dev/null')
    pid = start(n1, 'filemap /tmp/data.bin 600000', out='/tmp/f.out')
    wait_for(n1, r'^ready$', path='/tmp/f.out')
    refuse(n1, pid, 'node2', r'/tmp/data.bin does not exist on this node')
    n2.ok('dd if=/bin/busybox of=/tmp/data.bin bs=4096 count=50 2>/dev/null; echo x >> /tmp/data.bin')
    refuse(n1, pid, 'node2', r'/tmp/data.bin differs on this node')
    n2.ok('dd if=/bin/busybox of=/tmp/data.bin bs=4096 count=50 2>/dev/null')
    expect(alive(n1, pid), 'filemap died after refusals')
    n1.ok(f'kill {pid}')

    pid = start(n1, 'counter 1000 50', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    # The same pid in use on node2.
    n2.ok(f'echo {pid - 1} > /proc/sys/kernel/ns_last_pid; sleep 300 >/dev/null 2>&1 3>&- & '
          f'test $! = {pid}')
    refuse(n1, pid, 'node2', rf'pid {pid} is in use on this node')
    refuse(n1, pid, '192.0.2.99', r'unreachable')
    n2.ok('migctl keygen > /tmp/other.key && chmod 600 /tmp/other.key && '
          '(migctl serve --listen 0.0.0.0:7071 --key /tmp/other.key --socket /tmp/other.sock '
          '> /tmp/other.log 2>&1 3>&- &) && sleep 0.5')
    refuse(n1, pid, 'node2:7071', r'refused authentication')
    untouched(n1, pid, '/tmp/c.out')
    expect(n1.ok('migctl ps').count('refused') >= 3, n1.ok('migctl ps'))


def big_transfer_started(n1):
    """Start a 256 MiB program on node1 and its migration to node2 in the background; return
    (the checksum of an unmigrated run, pid) once pages are flowing. The migration's output
    and exit code land in node1:/tmp/m.out."""
    want = final_line(baseline(n1, 'bigheap 256 0'), 'checksum')
    pid = start(n1, 'bigheap 256 8000')
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'(migctl migrate {pid} --to node2 --mode eager > /tmp/m.out 2>&1; echo rc=$? >> /tmp/m.out) 3>&- &')
    deadline = time.time() + 60
    while 'transferring' not in n1.ok('migctl ps') and time.time() < deadline:
        time.sleep(0.2)
    expect(time.time() < deadline, 'transfer never started')
    return want, pid


def target_dies_mid_transfer(lab):
    """Atomicity: the target's daemon is killed while 256 MiB are in flight. The migration
    fails with one line, the program carries on at home and finishes with the checksum of a
    run that was never migrated; the target keeps nothing of it."""
    n1, n2 = lab.node(1), lab.node(2)
    want, pid = big_transfer_started(n1)
    time.sleep(0.5)
    n2.ok('killall migctl')
    out = wait_for(n1, r'^rc=', path='/tmp/m.out', timeout=90)
    expect('rc=12' in out and 'process carries on at home' in out, out)
    out = wait_for(n1, r'^checksum |^FAIL', timeout=180)
    expect('verify ok' in out, out)
    expect(final_line(out, 'checksum') == want, f'{final_line(out, "checksum")} != {want}')
    time.sleep(1)
    expect(not alive(n2, pid), f'pid {pid} left behind on node2')
    expect(wait_console(n2, r'controller went away', timeout=10), 'node2 did not log the abort')


def freeze_times_out(lab):
    """A process that cannot stop (stopped by SIGSTOP) is refused after the freeze timeout,
    and carries on when continued."""
    n1 = lab.node(1)
    pid = start(n1, 'counter 1000 50', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    n1.ok(f'kill -STOP {pid}')
    rc, out = n1.sh(f'migctl migrate {pid} --to node2 --freeze-timeout 1', timeout=60)
    expect(rc == 11 and 'did not stop in time' in out, f'rc {rc}: {out!r}')
    n1.ok(f'kill -CONT {pid}')
    untouched(n1, pid, '/tmp/c.out')


def user_migrates_own_process(lab):
    """An unprivileged user migrates their own process; it keeps its uid on the target."""
    n1, n2 = lab.node(1), lab.node(2)
    n1.ok('mkdir -p /tmp/u && chown 1000:1000 /tmp/u')
    n2.ok('mkdir -p /tmp/u && chown 1000:1000 /tmp/u')
    pid = start(n1, 'cd /tmp/u && runas 1000 1000 counter 100 40', out='/tmp/u/out')
    wait_for(n1, r'^3$', path='/tmp/u/out')
    out = n1.ok(f'runas 1000 1000 migctl migrate {pid} --to node2 {MODE_ARGS}', timeout=120)
    expect(f'pid {pid} migrated to node2' in out, out)
    status = n2.ok(f'cat /proc/{pid}/status')
    expect(re.search(r'^Uid:\s+1000\s+1000\s+1000', status, re.M), status)
    expect(n2.ok(f'readlink /proc/{pid}/cwd').strip() == '/tmp/u', 'cwd lost')
    wait_for(n2, r'^done$', path='/tmp/u/out', timeout=60)
    ps = n2.ok('migctl ps')
    expect(re.search(rf'{pid}\s+in\s+node1\s+counter', ps), ps)


def restart_daemon(node, args=''):
    node.ok(f'killall migctl; sleep 0.5; (RUST_LOG_STYLE=never migctl serve {args} > /dev/console 2>&1 3>&- &)')
    deadline = time.time() + 20
    while node.sh('test -S /run/migr/migctl.sock && migctl ping 127.0.0.1 --timeout 1')[0] != 0:
        expect(time.time() < deadline, f'{node.name}: daemon did not come back')
        time.sleep(0.2)


def faults_at_every_step(lab):
    """Atomicity, step by step: a fault injected at each point of the migration (on the
    target: before the stub, after the layout, mid-pages, before go; on the source: after the
    freeze, before go) fails it with one line; the program carries on at home, and the target
    keeps nothing."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'counter 100000 30', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    for point in ['target-before-stub', 'target-after-layout', 'target-mid-pages',
                  'target-before-go', 'source-after-freeze', 'source-before-go']:
        node = n2 if point.startswith('target') else n1
        restart_daemon(node, f'--inject-fault {point}')
        rc, out = n1.sh(f'migctl migrate {pid} --to node2 --mode eager', timeout=120)
        expect(rc == 12 and 'carries on at home' in out and len(out.strip().splitlines()) == 1,
               f'{point}: rc {rc}: {out!r}')
        expect(wait_console(node, f'fault injected at {point}'), f'{point}: not logged')
        untouched(n1, pid, '/tmp/c.out')
        expect(not alive(n2, pid), f'{point}: pid {pid} left on node2')
        restart_daemon(node)
    nums = [int(x) for x in text(n1, '/tmp/c.out').split() if x.isdigit()]
    expect(nums == list(range(1, len(nums) + 1)), 'the count skipped or repeated a number')
    migrate(n1, pid, n2)
    n2.ok(f'kill -9 {pid}')


def process_gone_before_freeze(lab):
    """The process exits and is reaped between the caller's ptrace proof and the freeze (the
    race that oopsed migr.ko: put_task_struct on a null task): the module answers "no such
    process", migctl refuses with one line, and no kernel complains (the runner checks)."""
    n1, n2 = lab.node(1), lab.node(2)
    restart_daemon(n1, '--inject-fault source-process-gone-before-freeze')
    for mode in ['eager', 'lazy']:
        pid = start(n1, 'counter 100000 30', out='/tmp/c.out')
        wait_for(n1, r'^3$', path='/tmp/c.out')
        rc, out = n1.sh(f'migctl migrate {pid} --to node2 --mode {mode}', timeout=120)
        expect(rc == 11 and re.search(rf'pid {pid}: no such process', out)
               and len(out.strip().splitlines()) == 1, f'{mode}: rc {rc}: {out!r}')
        expect(wait_console(n1, 'fault injected at source-process-gone-before-freeze'), 'not logged')
        expect(not alive(n1, pid) and not alive(n2, pid), f'pid {pid} still exists somewhere')
    restart_daemon(n1)
    pid = start(n1, 'counter 150 40', out='/tmp/c.out')
    wait_for(n1, r'^5$', path='/tmp/c.out')
    migrate(n1, pid, n2)  # the module still works


def source_daemon_dies_mid_transfer(lab):
    """The source's own daemon is killed while 256 MiB are in flight: the module thaws the
    process (its hold descriptor closed), which finishes at home with the right checksum; the
    target discards its half-built copy."""
    n1, n2 = lab.node(1), lab.node(2)
    want, pid = big_transfer_started(n1)
    n1.ok("kill -9 $(pidof migctl | tr ' ' '\\n' | sort -n | head -1)")  # the daemon: lowest pid
    expect(wait_console(n1, r'controller let go without commit; thawed'), 'no thaw logged on node1')
    out = wait_for(n1, r'^checksum |^FAIL', timeout=180)
    expect('verify ok' in out and final_line(out, 'checksum') == want, out[-200:])
    expect(wait_console(n2, rf'restore of pid {pid} from .*: link to the source lost', timeout=90),
           'node2 did not log the lost link')
    expect(not alive(n2, pid), f'pid {pid} left on node2')


def target_node_dies_mid_transfer(lab):
    """Atomicity: the target node loses power while 256 MiB are in flight. The source gives
    the silent peer up after its timeout, the migration fails with one line, and the program
    finishes at home with the checksum of a run that was never migrated."""
    n1, n2 = lab.node(1), lab.node(2)
    want, pid = big_transfer_started(n1)
    n2.power_off()
    out = wait_for(n1, r'^rc=', path='/tmp/m.out', timeout=150)
    expect('rc=12' in out and 'carries on at home' in out, out)
    out = wait_for(n1, r'^checksum |^FAIL', timeout=180)
    expect('verify ok' in out and final_line(out, 'checksum') == want, out[-200:])
    expect(re.search(rf'migrate pid {pid} to node2: failed: link to node2 lost', n1.console_text()),
           'node1 did not log the failure')


def madvise_flags_survive(lab):
    """Mappings keep their madvise-only flags (MADV_DONTFORK, DONTDUMP, WIPEONFORK) and
    contents."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'madvflags 4000')
    out = wait_for(n1, r'^ready$')
    migrate(n1, pid, n2)
    smaps = n2.ok(f'cat /proc/{pid}/smaps')
    for name, flag in [('dontfork', 'dc'), ('dontdump', 'dd'), ('wipeonfork', 'wf')]:
        addr = re.search(rf'^{name} 0x([0-9a-f]+)$', out, re.M).group(1)
        block = re.search(rf'^0*{addr}-.*?^VmFlags:([^\n]*)', smaps, re.M | re.S)
        expect(block and flag in block.group(1).split(), f'{name} at {addr}: no {flag} in {block and block.group(1)}')
    out = wait_for(n2, r'^done$|^FAIL', timeout=60)
    expect('patterns ok' in out, out)


ALL = [counter_moves, heap_and_stack, dynamic_tls_vdso, blocked_in_syscalls, vector_registers,
       big_heap, signal_state, private_file_mapping, back_and_forth, refusals,
       refusals_on_the_target, target_dies_mid_transfer, freeze_times_out,
       user_migrates_own_process, faults_at_every_step, process_gone_before_freeze,
       source_daemon_dies_mid_transfer,
       target_node_dies_mid_transfer, madvise_flags_survive]
