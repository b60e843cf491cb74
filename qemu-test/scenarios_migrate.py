"""Migration scenarios. The generic one, `move`, runs what a program's description
(progs/*.desc, read by tests.py) asks for; the others here script something special (signals
at set times, several programs, a daemon or a node killed, faults injected) and take the same
description entry `t` (its args, its mode). Each starts a test program (qemu-test/progs) on a
node with its output appended to a file, migrates it, and checks what the program itself
printed: on the source before the freeze, on the target after it."""
import json
import re
import time

import tests
from lab import LabError
from scenarios import expect, wait_console

# A lazy migration's original stays, parked, as the page server until every page is on the
# target. Waiting for that fails only when no page has moved for this long (not after a fixed
# time: the push of 256 MiB takes minutes on the debug kernel).
STALL_S = 90


def start(node, cmd, out='/tmp/out'):
    """Start `cmd` in the background, output appended to `out`; return its pid."""
    # The lab agent's own descriptors (its serial line) are not the program's.
    pid = node.ok(f'{cmd} >> {out} 2>&1 < /dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- & echo $!').strip()
    expect(pid.isdigit(), f'no pid from {cmd!r}: {pid!r}')
    return int(pid)


def go(node, pid):
    """The go signal of progs/lib/labtest.h: the file the program polls for, on the node
    where it runs now."""
    node.ok(f'touch /tmp/labtest-go.{pid}')


def text(node, path='/tmp/out'):
    rc, out = node.sh(f'cat {path} 2>/dev/null')
    return out if rc == 0 else ''


def wait_for(node, pattern, path='/tmp/out', timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, text(node, path), re.M):
            return text(node, path)
        time.sleep(0.3)
    dump_stuck(node)
    raise LabError(f'{node.name}: no {pattern!r} in {path} within {timeout}s; it has: {text(node, path)[-400:]!r}')


def dump_stuck(node):
    """Where a node's programs are stuck, for the logs of a scenario that timed out: the
    state, wait channel and kernel stack of every user process (written to the console, so
    it lands in the scenario's console log), and the kernel's blocked tasks (sysrq w)."""
    try:
        node.sh('exec > /dev/console 2>&1; echo "--- stuck? processes, their states and kernel stacks"; '
                'for d in /proc/[0-9]*; do c=$(tr "\\0" " " < $d/cmdline 2>/dev/null | cut -c1-60); '
                '[ -n "$c" ] || continue; echo "pid ${d#/proc/} $c '
                '$(grep State $d/status) wchan=$(cat $d/wchan)"; '
                'for t in $d/task/*; do [ "$t" = "$d/task/${d#/proc/}" ] || echo " thread ${t##*/} $(grep State $t/status)"; '
                'sed "s/^/    /" $t/stack; done; done; echo w > /proc/sysrq-trigger; true', timeout=60)
    except LabError:
        pass


def alive(node, pid):
    rc, _ = node.sh(f'kill -0 {pid}')
    return rc == 0


def daemon_pid(node):
    """The pid of the node's daemon (`migctl serve` on the usual socket), None if none runs."""
    out = node.ok('for p in $(pidof migctl); do c=$(tr "\\0" " " < /proc/$p/cmdline 2>/dev/null); '
                  'case "$c" in *" serve "*--socket*) ;; *" serve "*) echo $p ;; esac; done; true')
    pids = out.split()
    return int(pids[0]) if pids else None


def kill_daemon(node):
    pid = daemon_pid(node)
    expect(pid, f'{node.name}: no daemon to kill')
    node.ok(f'kill -9 {pid}')


def migrate(src, pid, dst, t, timeout=300, extra=''):
    rc, out = src.sh(f'migctl migrate {pid} --to {dst.name} {t.mode_args} {extra}'.strip(), timeout=timeout)
    expect(rc == 0, f'migrate {pid} {src.name} -> {dst.name}: rc {rc}: {out!r}')
    expect(re.search(rf'pid {pid} migrated to {dst.name}', out), out)
    return out


def source_progress(node, pid):
    """What the node's outgoing migration of pid has moved so far (pages and bytes), or None."""
    rc, out = node.sh('migctl stats --json')
    if rc != 0:
        return None
    recs = [json.loads(l) for l in out.splitlines() if l.strip().startswith('{')]
    recs = [r for r in recs if r.get('pid') == pid and r.get('direction') == 'out']
    if not recs:
        return None
    r = recs[-1]
    return (r['pages_eager'] + r['pages_faulted'] + r['pages_prefetched'] + r['pages_pushed'],
            r['wire_bytes'], r['state'])


def gone(node, pid, t):
    """The original on node has ended. Stop-and-copy: within 10 s of the migration. Lazy: the
    original serves pages until all are on the target; wait as long as pages keep moving,
    and fail only when none moved for STALL_S."""
    if t.mode != 'lazy':
        deadline = time.time() + 10
        while time.time() < deadline:
            if not alive(node, pid):
                return True
            time.sleep(0.2)
        return False
    last, moved_at = None, time.time()
    while time.time() - moved_at < STALL_S:
        if not alive(node, pid):
            return True
        now = source_progress(node, pid)
        if now != last:
            last, moved_at = now, time.time()
        time.sleep(1)
    return False


def baseline(node, cmd, go_file=False, cache={}):
    """Output of a run that is never migrated (run to the end; with the go file created at
    once if the program waits for it). A program's output is deterministic for its
    arguments, so the runner keeps it for the next scenario that asks (same lab kernel)."""
    if cmd not in cache:
        run = f'{cmd} < /dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-'
        if go_file:
            run = f'{run} & p=$!; touch /tmp/labtest-go.$p; wait $p'
        cache[cmd] = node.ok(run, timeout=600)
    return cache[cmd]


def final_line(out, prefix):
    lines = [l for l in out.splitlines() if l.startswith(prefix)]
    expect(lines, f'no {prefix!r} line in {out[-300:]!r}')
    return lines[-1]


def numbers(out):
    return [int(x) for x in out.split() if x.isdigit()]


def move(lab, t):
    """The generic scenario of a description (tests.py): start, migrate along the hops, go,
    wait for the end, check lines, baseline and counts."""
    hops = [lab.node(n) for n in t.get('hops', [1, 2])]
    src, dst = hops[0], hops[-1]
    if t.get('setup'):
        for node in lab.nodes:
            node.ok(t.get('setup'))
    want = {}
    base = t.get('baseline')
    if base:
        cmd = f'{t.prog} {base.get("args", t.args)}'.strip()
        out = baseline(dst, cmd, go_file=bool(t.get('go')) and 'args' not in base)
        want = {p: final_line(out, p) for p in base['same']}
    pid = start(src, t.cmd)
    wait_for(src, t.get('ready', r'^ready$'), timeout=120)
    for i, (a, b) in enumerate(zip(hops, hops[1:])):
        if t.get('pause_s'):
            time.sleep(t.get('pause_s'))
        migrate(a, pid, b, t, extra=t.get('migrate_args', ''))
        if b is dst and i == len(hops) - 2:
            if t.get('go'):
                go(dst, pid)
            if t.get('on_target'):
                dst.ok(t.get('on_target').format(pid=pid))
        # Lazy without push, the original stays parked until its pages have all left: when
        # the task comes back to that node later, its restore there (same pid) shows it went.
        if not (t.mode == 'lazy' and '--no-push' in t.get('migrate_args', '') and a in hops[i + 1:]):
            expect(gone(a, pid, t), f'hop {i + 1}: pid {pid} still runs on {a.name} after the migration')
    for node in set(hops[:-1]):
        expect(not re.search(r'FAIL', text(node)), f'{node.name}: {text(node)[-300:]!r}')
    out = wait_for(dst, t.get('finished') + '|^FAIL', timeout=t.get('timeout', 240))
    expect(not re.search(r'^FAIL', out, re.M), f'{dst.name}: {out[-300:]!r}')
    for line in t.get('expect', []):
        expect(re.search(rf'^{re.escape(line)}$', out, re.M), f'missing {line!r}: {out[-400:]!r}')
    for prefix, line in want.items():
        expect(final_line(out, prefix) == line, f'{final_line(out, prefix)} != {line} (unmigrated)')
    counts = t.get('counts')
    if counts:
        if len(hops) == 2:
            before, after = text(src).split(), text(dst).split()
            expect(before[0] == 'ready' and after[-1] == 'done', f'{before[:2]} ... {after[-2:]}')
            got = numbers(' '.join(before + after))
            expect(len(numbers(' '.join(after))) >= counts.get('min_on_target', 0),
                   f'too little progress on {dst.name}: {after}')
        else:
            got = numbers(''.join(text(n) for n in lab.nodes))
        want_n = list(range(1, counts['to'] + 1))
        if counts.get('in_order'):
            expect(got == want_n, f'sequence broken: {src.name} ended at {text(src).split()[-1:]}, '
                                  f'{dst.name} began at {text(dst).split()[:3]}')
        else:
            expect(sorted(got) == want_n, f'lost or repeated numbers: {len(got)} of {counts["to"]}')


def blocked_in_syscalls(lab, t):
    """Scenario 4: nanosleep then pause (see sleeper.desc)."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'sleeper nanosleep 6')
    wait_for(n1, r'^ready$')
    time.sleep(1)
    migrate(n1, pid, n2, t)
    out = wait_for(n2, r'^elapsed_ms|^FAIL', timeout=60)
    expect('slept ok' in out and 'FAIL' not in out, out)
    ms = int(final_line(out, 'elapsed_ms').split()[1])
    # Realtime on two VMs agrees to about a second (RTC granularity at boot).
    expect(4500 <= ms <= 10000, f'slept {ms} ms for a 6 s nanosleep')
    pid = start(n1, 'sleeper pause', out='/tmp/out2')
    wait_for(n1, r'^ready$', path='/tmp/out2')
    migrate(n1, pid, n2, t)
    time.sleep(1)
    expect(alive(n2, pid) and 'pause returned' not in text(n2, '/tmp/out2'), 'pause ended by itself')
    n2.ok(f'kill -USR1 {pid}')
    out = wait_for(n2, r'^pause returned', path='/tmp/out2')
    expect('pause returned errno=4 handler=1' in out, out)


def long_sleep_migrates(lab, t):
    """See sleeper.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'sleeper nanosleep 35')
    wait_for(n1, r'^ready$')
    time.sleep(1)
    t0 = time.time()
    migrate(n1, pid, n2, t, timeout=60)
    expect(time.time() - t0 < 25, f'the migration took {time.time() - t0:.0f} s: it waited for the sleep')
    out = wait_for(n2, r'^elapsed_ms|^FAIL', timeout=60)
    expect('slept ok' in out and 'FAIL' not in out, out)
    ms = int(final_line(out, 'elapsed_ms').split()[1])
    expect(33500 <= ms <= 40000, f'slept {ms} ms for a 35 s nanosleep')


def refuse(node, pid, dst, why, rc=11, via=''):
    """A refused migration: one line naming the reason, the given exit code."""
    out_rc, out = node.sh(f'{via}migctl migrate {pid} --to {dst} --no-deputy', timeout=60)
    expect(out_rc == rc, f'migrate {pid}: rc {out_rc} (want {rc}): {out!r}')
    expect(re.search(why, out), f'migrate {pid}: {out!r} does not say {why!r}')
    expect(len(out.strip().splitlines()) == 1, f'more than one line: {out!r}')


def untouched(node, pid, path):
    """The process still runs where it was and still makes progress."""
    expect(alive(node, pid), f'pid {pid} died on {node.name}')
    before = text(node, path)
    time.sleep(1.5)
    expect(text(node, path) != before, f'pid {pid} stopped making progress: {before[-80:]!r}')


def refusals(lab, t):
    """See counter.desc; the programs and their refusals come from the descriptions."""
    n1 = lab.node(1)
    refuse(n1, 99999, 'node2', r'pid 99999: no such process')
    refuse(n1, 2, 'node2', r'kernel thread')
    refuse(n1, 1, 'node2', r'pid 1')
    table = tests.refusing_programs()
    expect(len(table) >= 4, f'only {table} refuse')
    for prog, why in table:
        out = f"/tmp/{prog.replace(' ', '-')}.out"
        pid = start(n1, prog, out=out)
        wait_for(n1, r'^ready$', path=out)
        refuse(n1, pid, 'node2', why)
        expect(alive(n1, pid), f'{prog} died')
        go(n1, pid)
        wait_for(n1, r'^done$', path=out, timeout=30)
    pid = start(n1, f'counter {t.args}', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    tracer = start(n1, f'tracer {pid}', out='/tmp/t.out')
    wait_for(n1, r'^ready$', path='/tmp/t.out')
    expect(re.search(r'^traced$', text(n1, '/tmp/t.out'), re.M), text(n1, '/tmp/t.out'))
    refuse(n1, pid, 'node2', r'traced')
    go(n1, tracer)
    wait_for(n1, r'^done$', path='/tmp/t.out', timeout=30)
    time.sleep(0.5)
    refuse(n1, pid, 'node2', r'may not ptrace it', via='runas 1000 1000 ')
    untouched(n1, pid, '/tmp/c.out')
    n1.ok(f'kill -9 {pid}')


def refusals_on_the_target(lab, t):
    """See filemap.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    refused_before = n1.ok('migctl ps').count('refused')  # 0 on a clean lab
    path = t.args
    n1.ok(f'dd if=/bin/busybox of={path} bs=4096 count=50 2>/dev/null')
    pid = start(n1, t.cmd, out='/tmp/f.out')
    wait_for(n1, r'^ready$', path='/tmp/f.out')
    refuse(n1, pid, 'node2', rf'{path} does not exist on this node')
    n2.ok(f'dd if=/bin/busybox of={path} bs=4096 count=50 2>/dev/null; echo x >> {path}')
    refuse(n1, pid, 'node2', rf'{path} differs on this node')
    n2.ok(f'dd if=/bin/busybox of={path} bs=4096 count=50 2>/dev/null')
    expect(alive(n1, pid), 'filemap died after refusals')
    n1.ok(f'kill {pid}')

    pid = start(n1, 'counter 1000 50', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    # The same pid in use on node2. node2's pid counter goes back at once: left in node1's
    # range, whatever node2 started next (a kernel worker, which outlives the scenario) would
    # take the pids node1 hands out next, and a later scenario's move would be refused.
    n2.ok(f'last=$(cat /proc/sys/kernel/ns_last_pid); echo {pid - 1} > /proc/sys/kernel/ns_last_pid; '
          f'sleep 300 >/dev/null 2>&1 3>&- & s=$!; echo $last > /proc/sys/kernel/ns_last_pid; '
          f'test $s = {pid}')
    refuse(n1, pid, 'node2', rf'pid {pid} is in use on this node')
    refuse(n1, pid, '192.0.2.99', r'unreachable')
    n2.ok('migctl keygen > /tmp/other.key && chmod 600 /tmp/other.key && '
          '(migctl serve --listen 0.0.0.0:7071 --key /tmp/other.key --socket /tmp/other.sock '
          '> /tmp/other.log 2>&1 3>&- &) && sleep 0.5')
    # A daemon whose key node1 does not list (a stranger on node2's address): node1 refuses it.
    refuse(n1, pid, 'node2:7071', r'its key [0-9a-f]{64} is not in /etc/migr/peers')
    untouched(n1, pid, '/tmp/c.out')
    expect(n1.ok('migctl ps').count('refused') - refused_before >= 3, n1.ok('migctl ps'))


def big_transfer_started(n1, t):
    """Start the big-heap program (t.args MiB) on node1 and its migration to node2 in the background; return
    (the checksum of an unmigrated run, pid) once pages are flowing. The migration's output
    and exit code land in node1:/tmp/m.out. The program waits for go, so it is frozen or
    waiting during the whole transfer whatever the kernel's speed."""
    want = final_line(baseline(n1, t.cmd, go_file=True), 'checksum')
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$', timeout=120)
    n1.ok(f'(migctl migrate {pid} --to node2 --mode eager --no-deputy > /tmp/m.out 2>&1; echo rc=$? >> /tmp/m.out) 3>&- &')
    deadline = time.time() + 60
    while 'transferring' not in n1.ok('migctl ps') and time.time() < deadline:
        time.sleep(0.2)
    expect(time.time() < deadline, 'transfer never started')
    return want, pid


def target_dies_mid_transfer(lab, t):
    """See bigheap.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    want, pid = big_transfer_started(n1, t)
    time.sleep(0.5)
    n2.ok('killall migctl')
    out = wait_for(n1, r'^rc=', path='/tmp/m.out', timeout=90)
    expect('rc=12' in out and 'process carries on at home' in out, out)
    go(n1, pid)
    out = wait_for(n1, r'^checksum |^FAIL', timeout=180)
    expect('verify ok' in out, out)
    expect(final_line(out, 'checksum') == want, f'{final_line(out, "checksum")} != {want}')
    time.sleep(1)
    expect(not alive(n2, pid), f'pid {pid} left behind on node2')
    expect(wait_console(n2, r'controller went away', timeout=10), 'node2 did not log the abort')


def freeze_times_out(lab, t):
    """See counter.desc."""
    n1 = lab.node(1)
    pid = start(n1, f'counter {t.args}', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    n1.ok(f'kill -STOP {pid}')
    rc, out = n1.sh(f'migctl migrate {pid} --to node2 --freeze-timeout 1 --no-deputy', timeout=60)
    expect(rc == 11 and 'did not stop in time' in out, f'rc {rc}: {out!r}')
    n1.ok(f'kill -CONT {pid}')
    untouched(n1, pid, '/tmp/c.out')
    n1.ok(f'kill -9 {pid}')


def user_migrates_own_process(lab, t):
    """See counter.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    n1.ok('mkdir -p /tmp/u && chown 1000:1000 /tmp/u')
    n2.ok('mkdir -p /tmp/u && chown 1000:1000 /tmp/u')
    pid = start(n1, f'cd /tmp/u && runas 1000 1000 counter {t.args}', out='/tmp/u/out')
    wait_for(n1, r'^3$', path='/tmp/u/out')
    out = n1.ok(f'runas 1000 1000 migctl migrate {pid} --to node2 {t.mode_args}', timeout=120)
    expect(f'pid {pid} migrated to node2' in out, out)
    status = n2.ok(f'cat /proc/{pid}/status')
    expect(re.search(r'^Uid:\s+1000\s+1000\s+1000', status, re.M), status)
    expect(n2.ok(f'readlink /proc/{pid}/cwd').strip() == '/tmp/u', 'cwd lost')
    wait_for(n2, r'^done$', path='/tmp/u/out', timeout=60)
    ps = n2.ok('migctl ps')
    expect(re.search(rf'{pid}\s+in\s+node1\s+counter', ps), ps)


def restart_daemon(node, args=''):
    """Restart the node's daemon (with `args`; none: as at boot) and wait until it answers."""
    node.ok('for p in $(pidof migctl); do grep -q serve /proc/$p/cmdline 2>/dev/null && kill $p; done; '
            'sleep 0.5; (RUST_LOG_STYLE=never migctl serve --listen 0.0.0.0:7070 '
            f'{args} > /dev/console 2>&1 3>&- &)')
    deadline = time.time() + 20
    while node.sh('test -S /run/migr/migctl.sock && migctl ping 127.0.0.1 --timeout 1')[0] != 0:
        expect(time.time() < deadline, f'{node.name}: daemon did not come back')
        time.sleep(0.2)


def arm(node, layer, point, spec):
    """Arm a fault point (tests.points) on node: the daemon's by a restart with
    --inject-fault, the module's by its 'arm' command."""
    if layer == 'daemon':
        restart_daemon(node, f'--inject-fault {point}')
    else:
        node.ok(spec['arm'].format(point=point))


def disarm(node, layer, point, spec):
    if layer == 'daemon':
        restart_daemon(node)
    elif spec.get('disarm'):
        node.ok(spec['disarm'].format(point=point))


def faults_at_every_step(lab, t):
    """See counter.desc; the points come from qemu-test/faults.json."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, f'counter {t.args}', out='/tmp/c.out')
    wait_for(n1, r'^3$', path='/tmp/c.out')
    points = tests.points('fails')
    expect(points, 'no fault points')
    for layer, point, spec in points:
        node = n2 if spec['node'] == 'target' else n1
        arm(node, layer, point, spec)
        mode = spec.get('mode', 'eager')
        # A point counter does not reach gets its own program (one that waits for go, so
        # that its result, checked at home afterwards, covers the whole failed move).
        prog = spec.get('program')
        moved = start(n1, prog, out='/tmp/p.out') if prog else pid
        if prog:
            wait_for(n1, r'^ready$', path='/tmp/p.out', timeout=120)
        rc, out = n1.sh(f'migctl migrate {moved} --to node2 --mode {mode} --no-deputy', timeout=120)
        expect(rc == 12 and 'carries on at home' in out and len(out.strip().splitlines()) == 1,
               f'{point}: rc {rc}: {out!r}')
        expect(wait_console(node, spec['logged']), f'{point}: not logged')
        expect(not alive(n2, moved), f'{point}: pid {moved} left on node2')
        disarm(node, layer, point, spec)
        if prog:
            go(n1, moved)
            got = wait_for(n1, r'^checksum |^FAIL', path='/tmp/p.out', timeout=120)
            want = baseline(n1, prog, go_file=True)
            expect(final_line(got, 'checksum') == final_line(want, 'checksum'), f'{point}: {got[-200:]!r}')
        untouched(n1, pid, '/tmp/c.out')
    nums = numbers(text(n1, '/tmp/c.out'))
    expect(nums == list(range(1, len(nums) + 1)), 'the count skipped or repeated a number')
    migrate(n1, pid, n2, t)
    n2.ok(f'kill -9 {pid}')


def process_gone_before_freeze(lab, t):
    """See counter.desc; the points come from qemu-test/faults.json."""
    n1, n2 = lab.node(1), lab.node(2)
    points = tests.points('gone')
    expect(points, 'no fault points')
    for layer, point, spec in points:
        arm(n1, layer, point, spec)
        for mode in ['eager', 'lazy']:
            pid = start(n1, f'counter {t.args}', out='/tmp/c.out')
            wait_for(n1, r'^3$', path='/tmp/c.out')
            rc, out = n1.sh(f'migctl migrate {pid} --to node2 --mode {mode} --no-deputy', timeout=120)
            expect(rc == 11 and re.search(rf'pid {pid}: no such process', out)
                   and len(out.strip().splitlines()) == 1, f'{point} {mode}: rc {rc}: {out!r}')
            expect(wait_console(n1, spec['logged']), f'{point}: not logged')
            expect(not alive(n1, pid) and not alive(n2, pid), f'pid {pid} still exists somewhere')
            n1.ok('rm -f /tmp/c.out')
        disarm(n1, layer, point, spec)
    pid = start(n1, 'counter 150 40', out='/tmp/c.out')
    wait_for(n1, r'^5$', path='/tmp/c.out')
    migrate(n1, pid, n2, t)  # the module still works


def source_daemon_dies_mid_transfer(lab, t):
    """See bigheap.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    want, pid = big_transfer_started(n1, t)
    kill_daemon(n1)
    expect(wait_console(n1, r'controller let go without commit; thawed'), 'no thaw logged on node1')
    go(n1, pid)
    out = wait_for(n1, r'^checksum |^FAIL', timeout=180)
    expect('verify ok' in out and final_line(out, 'checksum') == want, out[-200:])
    expect(wait_console(n2, rf'restore of pid {pid} from .*: link to the source lost', timeout=90),
           'node2 did not log the lost link')
    expect(not alive(n2, pid), f'pid {pid} left on node2')


def target_node_dies_mid_transfer(lab, t):
    """See bigheap.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    want, pid = big_transfer_started(n1, t)
    n2.power_off()
    out = wait_for(n1, r'^rc=', path='/tmp/m.out', timeout=150)
    expect('rc=12' in out and 'carries on at home' in out, out)
    go(n1, pid)
    out = wait_for(n1, r'^checksum |^FAIL', timeout=180)
    expect('verify ok' in out and final_line(out, 'checksum') == want, out[-200:])
    expect(re.search(rf'migrate pid {pid} to node2: failed: link to node2 lost', n1.console_text()),
           'node1 did not log the failure')


def madvise_flags_survive(lab, t):
    """See madvflags.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start(n1, 'madvflags')
    out = wait_for(n1, r'^ready$')
    migrate(n1, pid, n2, t)
    smaps = n2.ok(f'cat /proc/{pid}/smaps')
    for name, flag in [('dontfork', 'dc'), ('dontdump', 'dd'), ('wipeonfork', 'wf')]:
        addr = re.search(rf'^{name} 0x([0-9a-f]+)$', out, re.M).group(1)
        block = re.search(rf'^0*{addr}-.*?^VmFlags:([^\n]*)', smaps, re.M | re.S)
        expect(block and flag in block.group(1).split(), f'{name} at {addr}: no {flag} in {block and block.group(1)}')
    go(n2, pid)
    out = wait_for(n2, r'^done$|^FAIL', timeout=60)
    expect('patterns ok' in out, out)


SCRIPTED = {f.__name__: f for f in [
    blocked_in_syscalls, refusals, refusals_on_the_target, target_dies_mid_transfer,
    freeze_times_out, user_migrates_own_process, faults_at_every_step, process_gone_before_freeze,
    source_daemon_dies_mid_transfer, target_node_dies_mid_transfer, madvise_flags_survive, long_sleep_migrates]}
