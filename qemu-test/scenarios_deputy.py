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
    return text(node, '/tmp/base'), parent_saw(node, 'base')


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
    for i in range(1, 4):
        n1.ok(f'kill -USR1 {pid}')
        wait_for(n2, rf'^usr1 {i}$', timeout=30)
    n1.ok(f'kill -USR2 {pid}')
    status = parent_saw(n1, 'out')
    expect(status == base_status == 'status 43', f'parent saw {status!r}, unmigrated {base_status!r}')
    got = final_line(text(n2), 'sum ')
    expect(got == final_line(base_out, 'sum '), f'{got} on node2, unmigrated {final_line(base_out, "sum ")}')
    expect(not alive(n1, pid) and not alive(n2, pid), f'pid {pid} still runs after its end')
    deadline = time.time() + 10
    while time.time() < deadline and 'deputy ended (exited 43' not in n1.ok('migctl ps'):
        time.sleep(0.5)
    expect('deputy ended (exited 43' in n1.ok('migctl ps'), n1.ok('migctl ps'))


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
        wait_for(at, r'^usr1 1$', timeout=30)
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


SCRIPTED = {'deputy_keeps_the_pid': deputy_keeps_the_pid, 'deputy_ends_by_signal': deputy_ends_by_signal,
            'deputy_target_lost': deputy_target_lost}
