"""Scenarios of the deputy (issue 14): a process that leaves its home with `--deputy` keeps
its pid there, its parent waits for it as if it never moved, signals sent to that pid reach
it, and its end (exit code, signal, or a lost node) ends the deputy the same way.

The parent is a shell on node1 that starts progs/deputy.c, waits for it and writes what
`$?` says: exactly what a user's shell would show."""
import json
import re
import time

from scenarios import expect, wait_console
from scenarios_migrate import alive, final_line, migrate, text, wait_for

CLOSE = '3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-'


def start_with_parent(node, cmd, tag):
    """`cmd` started by a shell that waits for it and writes `status $?` to /tmp/TAG.status;
    its output appended to /tmp/TAG. Returns the program's pid (not the shell's)."""
    node.ok(f'rm -f /tmp/{tag} /tmp/{tag}.status /tmp/{tag}.pid')
    node.ok(f"sh -c '{cmd} >> /tmp/{tag} 2>&1 < /dev/null & echo $! > /tmp/{tag}.pid; wait $!; "
            f"echo status $? > /tmp/{tag}.status' > /dev/null 2>&1 < /dev/null {CLOSE} &")
    deadline = time.time() + 30
    while time.time() < deadline:
        pid = text(node, f'/tmp/{tag}.pid').strip()
        if pid.isdigit():
            return int(pid)
        time.sleep(0.2)
    expect(False, f'{node.name}: {cmd!r} did not start')


def parent_saw(node, tag, timeout=60):
    """What the waiting shell wrote: `status N`."""
    return wait_for(node, r'^status \d+$', path=f'/tmp/{tag}.status', timeout=timeout).strip()


def unmigrated(node, cmd, usr1):
    """The program run at home, never moved, sent `usr1` SIGUSR1 then SIGUSR2: its output
    and the status its parent sees."""
    pid = start_with_parent(node, cmd, 'base')
    wait_for(node, r'^ready$', path='/tmp/base')
    for i in range(1, usr1 + 1):
        node.ok(f'kill -USR1 {pid}')
        wait_for(node, rf'^usr1 {i}$', path='/tmp/base')
    node.ok(f'kill -USR2 {pid}')
    status = parent_saw(node, 'base')
    return text(node, '/tmp/base'), status


def ends_as_unmigrated(n1, pid, base_out, base_status):
    """SIGUSR2 at home ends it: its shell sees 43 and its output file on node1 is byte for
    byte the unmigrated run's."""
    n1.ok(f'kill -USR2 {pid}')
    status = parent_saw(n1, 'out')
    expect(status == base_status == 'status 43', f'parent saw {status!r}, unmigrated {base_status!r}')
    expect(text(n1) == base_out, f'node1\'s /tmp/out {text(n1)!r}, unmigrated {base_out!r}')


def is_deputy(node, pid, target):
    """pid on node is the deputy of a process on target: same pid, almost no memory, and
    node's `migctl ps` says so."""
    expect(alive(node, pid), f'{node.name}: pid {pid} (the deputy) is gone')
    rss = node.ok(f"awk '/^VmRSS/ {{print $2}}' /proc/{pid}/status").strip() or '0'
    expect(int(rss) < 1024, f'{node.name}: the deputy of pid {pid} holds {rss} KiB of memory')
    out = [r for r in json.loads(node.ok('migctl ps --json')) if r['pid'] == pid and r['direction'] == 'out']
    expect(out and out[-1]['deputy'] and out[-1]['state'].startswith(f'migrated to {target.name}'),
           f'{node.name} ps: {out}')
    expect('its deputy holds the pid here' in node.ok('migctl ps'), node.ok('migctl ps'))


def deputy_keeps_the_pid(lab, t):
    """See deputy.desc: signals from home, the exit status to the waiting parent."""
    n1, n2 = lab.node(1), lab.node(2)
    base_out, base_status = unmigrated(n1, t.cmd, 3)
    n2.ok('rm -f /tmp/out')
    pid = start_with_parent(n1, t.cmd, 'out')
    wait_for(n1, r'^ready$')
    migrate(n1, pid, n2, t, extra='--deputy')
    expect(alive(n2, pid), f'pid {pid} does not run on node2')
    # Lazy: the original becomes the deputy once every page is on node2.
    deadline = time.time() + 120
    while time.time() < deadline and int(n1.ok(f"awk '/^VmRSS/ {{print $2}}' /proc/{pid}/status").strip() or 0) >= 1024:
        time.sleep(1)
    is_deputy(n1, pid, n2)
    expect(not text(n1, '/tmp/out.status'), f'the parent saw an end already: {text(n1, "/tmp/out.status")!r}')
    # Its output file (`>> /tmp/out`) is node1's: node2 has none, and what it writes there
    # goes through the deputy, appended to node1's file.
    for i in range(1, 4):
        n1.ok(f'kill -USR1 {pid}')
        wait_for(n1, rf'^usr1 {i}$', timeout=30)
    ends_as_unmigrated(n1, pid, base_out, base_status)
    expect(final_line(text(n1), 'sum '), 'no checksum')
    expect(n2.sh('test -e /tmp/out')[0] != 0, f'node2 has a /tmp/out: {text(n2)!r}')
    expect(not alive(n1, pid) and not alive(n2, pid), f'pid {pid} still runs after its end')
    deadline = time.time() + 10
    while time.time() < deadline and 'deputy ended (exited 43' not in n1.ok('migctl ps'):
        time.sleep(0.5)
    expect('deputy ended (exited 43' in n1.ok('migctl ps'), n1.ok('migctl ps'))


def deputy_comes_home(lab, t):
    """See deputy.desc: node1 -> node2 -> node3 -> home, the deputy becoming it again."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)
    base_out, base_status = unmigrated(n1, t.cmd, 3)
    pid = start_with_parent(n1, t.cmd, 'out')
    wait_for(n1, r'^ready$')
    migrate(n1, pid, n2, t, extra='--deputy')
    n1.ok(f'kill -USR1 {pid}')
    wait_for(n1, r'^usr1 1$', timeout=30)
    migrate(n2, pid, n3, t)
    wait_now_on(n1, pid, n3)
    n1.ok(f'kill -USR1 {pid}')
    wait_for(n1, r'^usr1 2$', timeout=30)
    rc, said = n3.sh(f'migctl migrate {pid} --to home {t.mode_args}', timeout=300)
    expect(rc == 0 and re.search(rf'pid {pid} migrated to node1', said), f'--to home: rc {rc}: {said!r}')
    expect(not alive(n3, pid) or not text(n1, '/tmp/out.status'), f'pid {pid} still runs on node3')
    # Its deputy became it: the same pid, its memory back, the shell still waiting for it.
    deadline = time.time() + 120
    rss = 0
    while time.time() < deadline:
        rss = int(n1.ok(f"awk '/^VmRSS/ {{print $2}}' /proc/{pid}/status").strip() or 0)
        if rss > 8 * 1024 and not alive(n3, pid):
            break
        time.sleep(1)
    expect(rss > 8 * 1024, f'pid {pid} on node1 holds {rss} KiB: not its memory')
    expect(not alive(n2, pid) and not alive(n3, pid), f'pid {pid} still runs away from home')
    expect(not text(n1, '/tmp/out.status'), f'the shell saw an end: {text(n1, "/tmp/out.status")!r}')
    n1.ok(f'kill -USR1 {pid}')
    wait_for(n1, r'^usr1 3$', timeout=30)
    ends_as_unmigrated(n1, pid, base_out, base_status)


def deputy_refuses_a_socket(lab, t):
    """See deputy.desc: stdin and stdout are a TCP connection (busybox nc -e)."""
    n1, n2 = lab.node(1), lab.node(2)
    n1.ok(f'busybox nc -l -p 7000 -e {t.cmd} > /dev/null 2>&1 < /dev/null {CLOSE} &')
    time.sleep(1)
    n1.ok(f'(sleep 600 | busybox nc 127.0.0.1 7000 > /tmp/sock.out 2>&1) < /dev/null {CLOSE} &')
    wait_for(n1, r'^ready$', path='/tmp/sock.out')
    pid = int(n1.ok('pidof deputy').strip())
    # The kernel log from here on (pids repeat from one scenario to the next in a lab).
    seen = len(n1.ok('dmesg').splitlines())
    rc, said = n1.sh(f'migctl migrate {pid} --to node2 --deputy', timeout=120)
    expect(rc != 0 and re.search(r'descriptor 0 \(socket:\[\d+\]\) cannot be served through the deputy', said),
           f'a stdio socket: rc {rc}: {said!r}')
    # Refused before the freeze: the module never saw it, and it carries on.
    since = '\n'.join(n1.ok('dmesg').splitlines()[seen:])
    expect(not re.search(rf'pid {pid} frozen', since), f'pid {pid} was frozen before the refusal: {since[-300:]!r}')
    expect(not alive(n2, pid), f'pid {pid} runs on node2')
    n1.ok(f'kill -USR1 {pid}')
    wait_for(n1, r'^usr1 1$', path='/tmp/sock.out')
    n1.ok(f'kill -USR2 {pid}')
    wait_for(n1, r'^sum ', path='/tmp/sock.out')
    # The feeding side of the connection ends too (else the lab is not clean after it).
    n1.ok('pkill -x sleep; true')


def deputy_ends_by_signal(lab, t):
    """See deputy.desc: SIGTERM and SIGKILL sent to the deputy end the process and the parent
    sees them; a second move from the copy's node keeps the same deputy."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)
    for sig, moves, want in (('TERM', (n2, n3), 'status 143'), ('KILL', (n2,), 'status 137')):
        pid = start_with_parent(n1, t.cmd, 'out')
        wait_for(n1, r'^ready$')
        at = n1
        for b in moves:
            migrate(at, pid, b, t, extra='--deputy' if at is n1 else '')
            at = b
        expect(alive(at, pid), f'pid {pid} does not run on {at.name}')
        # The home hears of the second move in the background.
        deadline = time.time() + 20
        while time.time() < deadline and at is not n2:
            out = [r for r in json.loads(n1.ok('migctl ps --json')) if r['pid'] == pid and r['direction'] == 'out']
            if out and out[-1].get('now_on') == at.name:
                break
            time.sleep(0.5)
        is_deputy(n1, pid, n2)
        n1.ok(f'kill -USR1 {pid}')
        wait_for(n1, r'^usr1 1$', timeout=30)
        n1.ok(f'kill -{sig} {pid}')
        status = parent_saw(n1, 'out')
        expect(status == want, f'SIGKILL/SIGTERM: parent saw {status!r}, wants {want!r}')
        expect(not alive(at, pid), f'pid {pid} still runs on {at.name} after SIG{sig} at home')


def deputy_target_lost(lab, t):
    """See deputy.desc: node2, holding the copy, is cut off for good."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = start_with_parent(n1, t.cmd, 'out')
    wait_for(n1, r'^ready$')
    migrate(n1, pid, n2, t, extra='--deputy')
    is_deputy(n1, pid, n2)
    lab.cut_link(2)
    try:
        t0 = time.time()
        status = parent_saw(n1, 'out', timeout=90)
        took = time.time() - t0
        expect(status == 'status 137', f'parent saw {status!r} when node2 was lost')
        expect(took < 75, f'the deputy ended {took:.0f} s after node2 was cut off')
        expect(wait_console(n1, rf'deputy {pid}: ends \(killed by signal 9\): node2, which holds its copy, unreachable'),
               'node1 did not log why')
        # node2 lost its home the same way: it ends the copy rather than leave it orphaned.
        deadline = time.time() + 60
        while time.time() < deadline and alive(n2, pid):
            time.sleep(1)
        expect(not alive(n2, pid), f'node2 still runs pid {pid} with its home gone')
        expect(wait_console(n2, rf'pid {pid}: its home node1 unreachable'), 'node2 did not log why')
    finally:
        lab.restore_link(2)


def type_keys(node, d, keys):
    """Type `keys` (C escapes, see ptyrun.c) on the ptyrun terminal of directory d."""
    node.ok(f"printf '%s\\n' '{keys}' > {d}/keys")


def on_screen(node, d, pattern, timeout=60):
    return wait_for(node, pattern, path=f'{d}/screen', timeout=timeout)


# A session at a terminal: (keys typed, what to wait for on the screen before the next).
SESSION = [(r'hello\n', r'got: hello \(1\)'),
           ('MOVE', None),
           (r'second line\n', r'got: second line \(2\)'),
           (r'tty\n', r'^via /dev/tty'),
           ('!resize 40 120', r'winch 40 120'),
           (r'size\n', r'size 40 120'),
           (r'raw\n', r'raw on'),
           ('ab', r'key 62'),
           ('q', r'cooked'),
           (r'quit 5\n', None)]


def terminal_session(node, d, moved_to=None, t=None):
    """Run termtalk under ptyrun in directory d of node and go through SESSION; with moved_to,
    the program moves there with --deputy at MOVE. Returns (screen, status)."""
    node.ok(f'rm -rf {d} && mkdir -p {d}')
    node.ok(f'ptyrun {d} termtalk > /dev/null 2>&1 < /dev/null {CLOSE} &')
    on_screen(node, d, r'^ready')
    pid = int(wait_for(node, r'^\d+$', path=f'{d}/pid').strip())
    for keys, wait in SESSION:
        if keys == 'MOVE':
            if moved_to:
                migrate(node, pid, moved_to, t, extra='--deputy')
                expect(alive(moved_to, pid), f'pid {pid} does not run on {moved_to.name}')
                expect(alive(node, pid), f'no deputy of pid {pid} on {node.name}')
            continue
        type_keys(node, d, keys)
        if wait:
            on_screen(node, d, wait)
    status = wait_for(node, r'^(exit|signal) \d+$', path=f'{d}/status').strip()
    return text(node, f'{d}/screen'), status


def deputy_terminal(lab, t):
    """See termtalk.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    base_screen, base_status = terminal_session(n1, '/tmp/tty-base')
    screen, status = terminal_session(n1, '/tmp/tty-moved', moved_to=n2, t=t)
    expect(status == base_status == 'exit 5', f'the shell saw {status!r}, unmigrated {base_status!r}')
    expect(screen == base_screen, f'node1\'s screen differs from an unmigrated run:\n{screen!r}\nvs\n{base_screen!r}')
    # The terminal is node1's again, in the modes the program left.
    # ^C typed on node1 ends the moved program by SIGINT, as its shell sees.
    d = '/tmp/tty-intr'
    n1.ok(f'rm -rf {d} && mkdir -p {d}')
    n1.ok(f'ptyrun {d} termtalk > /dev/null 2>&1 < /dev/null {CLOSE} &')
    on_screen(n1, d, r'^ready')
    pid = int(wait_for(n1, r'^\d+$', path=f'{d}/pid').strip())
    migrate(n1, pid, n2, t, extra='--deputy')
    type_keys(n1, d, r'x\n')
    on_screen(n1, d, r'got: x \(1\)')
    type_keys(n1, d, r'\003')
    status = wait_for(n1, r'^(exit|signal) \d+$', path=f'{d}/status').strip()
    expect(status == 'signal 2', f'^C: the shell saw {status!r}')
    expect(not alive(n2, pid), f'pid {pid} still runs on node2 after ^C')


def deputy_pipeline(lab, t):
    """See pipefilter.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    def pipeline(tag):
        n1.ok(f'rm -f /tmp/{tag}.*')
        # A slow producer: most of the input crosses the relay after the move.
        producer = 'for i in $(seq 1 300); do echo line $i; sleep 0.02; done'
        n1.ok(f"sh -c '({producer}) | {t.cmd} | sha256sum > /tmp/{tag}.sum; echo status $? > /tmp/{tag}.status' "
              f"> /dev/null 2>&1 < /dev/null {CLOSE} &")
    pipeline('pipe-base')
    base = wait_for(n1, r'^status \d+$', path='/tmp/pipe-base.status', timeout=120).strip()
    pipeline('pipe-moved')
    deadline = time.time() + 30
    pid = ''
    while time.time() < deadline and not pid.isdigit():
        pid = n1.ok('pidof pipefilter || true').strip()
        time.sleep(0.2)
    expect(pid.isdigit(), f'no single pipefilter running: {pid!r}')
    pid = int(pid)
    time.sleep(2)
    migrate(n1, pid, n2, t, extra='--deputy')
    expect(alive(n2, pid) or text(n1, '/tmp/pipe-moved.status'), f'pid {pid} does not run on node2')
    status = wait_for(n1, r'^status \d+$', path='/tmp/pipe-moved.status', timeout=120).strip()
    expect(status == base == 'status 0', f'the shell saw {status!r}, unmigrated {base!r}')
    got, want = text(n1, '/tmp/pipe-moved.sum'), text(n1, '/tmp/pipe-base.sum')
    expect(got and got == want, f'the pipeline\'s output differs: {got!r} vs {want!r}')


def deputy_job_control(lab, t):
    """See termtalk.desc: ^Z and fg in a home shell."""
    n1, n2 = lab.node(1), lab.node(2)
    d = '/tmp/jobs'
    n1.ok(f'rm -rf {d} && mkdir -p {d}')
    n1.ok(f'ptyrun {d} sh -i > /dev/null 2>&1 < /dev/null {CLOSE} &')
    wait_for(n1, r'^\d+$', path=f'{d}/pid')
    time.sleep(1)
    type_keys(n1, d, r'termtalk\n')
    on_screen(n1, d, r'^ready')
    pid = ''
    deadline = time.time() + 20
    while time.time() < deadline and not pid.isdigit():
        pid = n1.ok('pidof termtalk || true').strip()
    expect(pid.isdigit(), f'no single termtalk: {pid!r}')
    pid = int(pid)
    migrate(n1, pid, n2, t, extra='--deputy')
    type_keys(n1, d, r'one\n')
    on_screen(n1, d, r'got: one \(1\)')
    # ^Z on node1's terminal: it stops on node2, and node1's shell has its job stopped.
    type_keys(n1, d, r'\032')
    on_screen(n1, d, r'Stopped')
    expect(n2.ok(f"awk '{{print $3}}' /proc/{pid}/stat").strip() == 'T', f'pid {pid} is not stopped on node2')
    expect(n1.ok(f"awk '{{print $3}}' /proc/{pid}/stat").strip() == 'T', f'the deputy of {pid} is not stopped on node1')
    # The shell has the terminal meanwhile: it answers.
    type_keys(n1, d, r'echo shell-here\n')
    on_screen(n1, d, r'^shell-here')
    type_keys(n1, d, r'fg\n')
    deadline = time.time() + 30
    while time.time() < deadline and n2.ok(f"awk '{{print $3}}' /proc/{pid}/stat").strip() == 'T':
        time.sleep(0.3)
    time.sleep(1)
    type_keys(n1, d, r'two\n')
    on_screen(n1, d, r'got: two \(2\)')
    type_keys(n1, d, r'quit 6\n')
    time.sleep(1)
    type_keys(n1, d, r'echo rc=$?\n')
    on_screen(n1, d, r'^rc=6')
    type_keys(n1, d, r'exit\n')
    wait_for(n1, r'^exit 0$', path=f'{d}/status')


def deputy_picture(lab, t):
    """See termtalk.desc: fifteen terminals on node1, five programs moved to node2 and five
    to node3."""
    nodes = [lab.node(1), lab.node(2), lab.node(3)]
    n1 = nodes[0]
    dirs = [f'/tmp/term{i}' for i in range(15)]
    pids = []
    for d in dirs:
        n1.ok(f'rm -rf {d} && mkdir -p {d}')
        n1.ok(f'ptyrun {d} termtalk > /dev/null 2>&1 < /dev/null {CLOSE} &')
    for d in dirs:
        on_screen(n1, d, r'^ready')
        pids.append(int(wait_for(n1, r'^\d+$', path=f'{d}/pid').strip()))
    # Where each goes: 1-5 to node2, 6-10 to node3, the rest stay.
    where = [nodes[1] if 1 <= i <= 5 else nodes[2] if 6 <= i <= 10 else n1 for i in range(15)]
    for i, (pid, to) in enumerate(zip(pids, where)):
        if to is not n1:
            migrate(n1, pid, to, t, extra='--deputy')
    for pid, to in zip(pids, where):
        expect(alive(to, pid) and alive(n1, pid), f'pid {pid}: not on {to.name} with its deputy on node1')
    # The keystroke's echo, measured on node1's terminal: unmoved (term0), moved (term1, node2).
    latency = {}
    for i in (0, 1):
        type_keys(n1, dirs[i], '!latency 40')
        latency[i] = wait_for(n1, r'^latency n=40 ', path=f'{dirs[i]}/latency', timeout=120).strip()
    # Every terminal answers on its own screen, then its program exits with its own status.
    for i, d in enumerate(dirs):
        type_keys(n1, d, rf'line {i}\n')
    for i, d in enumerate(dirs):
        on_screen(n1, d, rf'got: line {i} \(1\)')
    for i, d in enumerate(dirs):
        type_keys(n1, d, rf'quit {i + 10}\n')
    for i, d in enumerate(dirs):
        status = wait_for(n1, r'^(exit|signal) \d+$', path=f'{d}/status').strip()
        expect(status == f'exit {i + 10}', f'terminal {i} ({where[i].name}): its shell saw {status!r}')
    print(f'NOTE keystroke echo on node1\'s terminal: unmoved {latency[0]}; moved to node2 {latency[1]}', flush=True)


def wait_now_on(home, pid, node):
    """Until the home's record of pid says it runs on node (the node it left told it)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        out = [r for r in json.loads(home.ok('migctl ps --json')) if r['pid'] == pid and r['direction'] == 'out']
        if out and out[-1].get('now_on') == node.name:
            return
        time.sleep(0.5)


def moved_on_twice(n1, n2, n3, pid, t):
    """pid moves node1 -> node2 with its deputy, then node2 -> node3, until node1's record
    says it runs on node3."""
    migrate(n1, pid, n2, t, extra='--deputy')
    migrate(n2, pid, n3, t)
    wait_now_on(n1, pid, n3)
    expect(alive(n3, pid), f'pid {pid} does not run on node3')


def deputy_home_calls(lab, t):
    """See homecalls.desc: a moved child's calls that name its parent and its group."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)

    def start(tag):
        """homecalls started on node1, its output appended to /tmp/TAG; the child's pid."""
        n1.ok(f'rm -f /tmp/{tag} /tmp/{tag}.pid')
        n1.ok(f"sh -c 'homecalls /tmp/{tag}.pid {t.args} >> /tmp/{tag} 2>&1 < /dev/null' "
              f"> /dev/null 2>&1 < /dev/null {CLOSE} &")
        wait_for(n1, r'^ready$', path=f'/tmp/{tag}')
        wait_for(n1, r'^\d+$', path=f'/tmp/{tag}.pid')
        return int(text(n1, f'/tmp/{tag}.pid').strip())

    child = start('base')
    n1.ok(f'touch /tmp/labtest-go.{child}')
    base_out = wait_for(n1, r'^parent got ', path='/tmp/base', timeout=60)
    expect('child exited 7' in base_out and ': 1\n' in base_out, f'unmigrated run: {base_out!r}')

    child = start('out')
    moved_on_twice(n1, n2, n3, child, t)
    n3.ok(f'touch /tmp/labtest-go.{child}')
    moved_out = wait_for(n1, r'^parent got ', path='/tmp/out', timeout=120)
    expect(moved_out == base_out, f'moved: {moved_out!r}\nunmigrated: {base_out!r}')
    expect(n3.sh('test -e /tmp/out')[0] != 0, f'node3 has a /tmp/out: {text(n3)!r}')


def deputy_home_file(lab, t):
    """See homefile.desc: files of the home used at an offset, through the deputy."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)
    n1.ok('head -c 5000 /dev/urandom > /tmp/hf.conf; rm -f /tmp/hf.db')
    for n in (n2, n3):
        n.ok('head -c 3000 /dev/urandom > /tmp/hf.conf; rm -f /tmp/hf.db')
    cmd = 'homefile /tmp/hf.db /tmp/hf.conf'
    def locks_held(out, node):
        """At "locks held", another process of node1 finds its locks held; then go on."""
        wait_for(n1, r'^locks held$', path=out)
        seen = n1.ok('homefile lockcheck /tmp/hf.db')
        expect(seen.split() == 'record lock held by another flock held by another'.split(), f'lockcheck: {seen!r}')
        node.ok(f'touch /tmp/labtest-go.{pid}')

    pid = start_with_parent(n1, cmd, 'base')
    wait_for(n1, r'^ready$', path='/tmp/base')
    n1.ok(f'touch /tmp/labtest-go.{pid}')
    locks_held('/tmp/base', n1)
    base_status = parent_saw(n1, 'base')
    base_out, base_db = text(n1, '/tmp/base'), n1.ok('sha256sum < /tmp/hf.db')
    expect(base_status == 'status 0' and 'db 6000 bytes' in base_out, f'unmigrated: {base_status!r} {base_out!r}')

    n1.ok('rm -f /tmp/hf.db')
    pid = start_with_parent(n1, cmd, 'out')
    wait_for(n1, r'^ready$')
    moved_on_twice(n1, n2, n3, pid, t)
    if t.mode == 'eager':
        # This variant comes home first: its deputy's own descriptors, at their offsets.
        rc, said = n3.sh(f'migctl migrate {pid} --to home {t.mode_args}', timeout=300)
        expect(rc == 0 and re.search(rf'pid {pid} migrated to node1', said), f'--to home: rc {rc}: {said!r}')
        n1.ok(f'touch /tmp/labtest-go.{pid}')
        locks_held('/tmp/out', n1)
    else:
        n3.ok(f'touch /tmp/labtest-go.{pid}')
        locks_held('/tmp/out', n3)
    status = parent_saw(n1, 'out', timeout=120)
    moved_out = text(n1)
    expect(moved_out == base_out, f'moved: {moved_out!r}\nunmigrated: {base_out!r}')
    expect(status == base_status, f'the shell saw {status!r}, unmigrated {base_status!r}')
    expect(n1.ok('sha256sum < /tmp/hf.db') == base_db, 'node1\'s database differs from the unmigrated run\'s')
    for n in (n2, n3):
        expect(n.sh('test -e /tmp/hf.db')[0] != 0, f'{n.name} has a /tmp/hf.db')
    n1.ok('rm -f /tmp/hf.db /tmp/hf.conf')
    n2.ok('rm -f /tmp/hf.conf')
    n3.ok('rm -f /tmp/hf.conf')


SCRIPTED = {'deputy_refuses_a_socket': deputy_refuses_a_socket, 'deputy_comes_home': deputy_comes_home, 'deputy_picture': deputy_picture, 'deputy_job_control': deputy_job_control, 'deputy_terminal': deputy_terminal, 'deputy_pipeline': deputy_pipeline,'deputy_keeps_the_pid': deputy_keeps_the_pid, 'deputy_ends_by_signal': deputy_ends_by_signal,
            'deputy_target_lost': deputy_target_lost,
            'deputy_home_calls': deputy_home_calls,
            'deputy_home_file': deputy_home_file}
