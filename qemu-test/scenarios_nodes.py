"""Scenarios of many nodes (issue 13): a process that moves on from its first target, comes
back home with `--to home`, and a node cut off from the switch mid-chain. The three-node
chains themselves are generic `move` scenarios (hops [1, 2, 3] in counter.desc and
lazytouch.desc)."""
import json
import re
import time

from scenarios import expect
from scenarios_migrate import alive, gone, migrate, numbers, start, text, wait_for


def ps(node):
    return json.loads(node.ok('migctl ps --json'))


def home_follows(lab, t):
    """See counter.desc: node1 -> node2 -> node3, then `--to home` from node3."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$')
    for a, b in ((n1, n2), (n2, n3)):
        migrate(a, pid, b, t)
        expect(gone(a, pid, t), f'pid {pid} still runs on {a.name} after the migration to {b.name}')
    # node2 tells node1 in the background, right after the move: give it a moment.
    deadline = time.time() + 20
    while time.time() < deadline:
        out = [r for r in ps(n1) if r['pid'] == pid and r['direction'] == 'out']
        if out and out[-1].get('now_on') == 'node3':
            break
        time.sleep(0.5)
    expect(out and out[-1].get('now_on') == 'node3', f'node1 (home) does not say pid {pid} runs on node3: {out}')
    expect('now on node3' in n1.ok('migctl ps'), n1.ok('migctl ps'))
    guest = [r for r in ps(n3) if r['pid'] == pid and r['direction'] == 'in']
    expect(guest and guest[-1]['home'] == 'node1', f'node3 does not know pid {pid}\'s home: {guest}')
    # Home from where it runs, without naming the node.
    rc, said = n3.sh(f'migctl migrate {pid} --to home {t.mode_args}', timeout=300)
    expect(rc == 0 and re.search(rf'pid {pid} migrated to node1', said), f'--to home: rc {rc}: {said!r}')
    expect(gone(n3, pid, t), f'pid {pid} still runs on node3 after going home')
    expect(alive(n1, pid), f'pid {pid} does not run on node1, its home')
    back = [r for r in ps(n1) if r['pid'] == pid]
    expect(back[-1]['direction'] == 'in' and back[-1]['state'] == 'running', f'node1 ps: {back}')
    expect(any(r.get('now_on') == 'here (back home)' for r in back if r['direction'] == 'out'), f'node1 ps: {back}')
    # At home, there is no home to go back to: refused, and it runs on.
    rc, said = n1.sh(f'migctl migrate {pid} --to home {t.mode_args}', timeout=120)
    expect(rc != 0 and 'on its home node already' in said and alive(n1, pid), f'--to home at home: rc {rc}: {said!r}')
    out = wait_for(n1, r'^done$|^FAIL', timeout=t.get('timeout', 240))
    got = numbers(''.join(text(n) for n in lab.nodes[:3]))
    expect(sorted(got) == list(range(1, int(t.args.split()[0]) + 1)), f'lost or repeated numbers: {len(got)}')
    expect('FAIL' not in out, out[-300:])


def chain_node_cut_off(lab, t):
    """See counter.desc: node3 is unplugged from the switch as the process is to move on to
    it from node2."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$')
    migrate(n1, pid, n2, t)
    expect(gone(n1, pid, t), f'pid {pid} still runs on node1')
    lab.cut_link(3)
    try:
        t0 = time.time()
        rc, said = n2.sh(f'migctl migrate {pid} --to node3 {t.mode_args}', timeout=180)
        took = time.time() - t0
        expect(rc != 0 and re.search(r'node3', said), f'migrate to a node cut off: rc {rc}: {said!r}')
        expect(took < 90, f'the refusal took {took:.0f} s')
        expect(alive(n2, pid), f'pid {pid} no longer runs on node2 after the failed move: {said!r}')
        expect(not alive(n3, pid), f'pid {pid} runs on node3 although it was cut off')
        before = numbers(text(n2))
        time.sleep(2)
        expect(len(numbers(text(n2))) > len(before), 'the process does not count on on node2')
    finally:
        lab.restore_link(3)
    # Plugged back in, the same move goes through.
    deadline = time.time() + 30
    while n2.sh('migctl ping node3 --timeout 3', timeout=30)[0] != 0:
        expect(time.time() < deadline, 'node3 does not answer after its link came back')
        time.sleep(1)
    migrate(n2, pid, n3, t)
    out = wait_for(n3, r'^done$|^FAIL', timeout=t.get('timeout', 240))
    expect('FAIL' not in out, out[-300:])
    got = numbers(text(n1) + text(n2) + text(n3))
    expect(got == list(range(1, int(t.args.split()[0]) + 1)), f'sequence broken: {len(got)} numbers')


def evacuate(lab, t):
    """See counter.desc: node3 holds guests of node1 and node2 and is evacuated while node1
    is cut off; then node2, with node1 back."""
    n1, n2, n3 = lab.node(1), lab.node(2), lab.node(3)
    progs = {}
    for name, home in (('a', n1), ('b', n1), ('c', n2)):
        pid = start(home, t.cmd, out=f'/tmp/{name}')
        wait_for(home, r'^ready$', path=f'/tmp/{name}')
        migrate(home, pid, n3, t)
        expect(gone(home, pid, t), f'pid {pid} still runs on {home.name}')
        progs[name] = (pid, home)
    # The lab's peers file lists ten nodes; those beyond this lab are down.
    view = {v['name']: v for v in json.loads(n3.ok('migctl nodes --json', timeout=60))}
    up = sorted((v['name'] for v in view.values() if v['reachable']), key=lambda n: int(n[4:]))
    expect(len(view) == 10 and up == [n.name for n in lab.nodes], f'migctl nodes on node3: up {up} of {sorted(view)}')
    expect(all('unreachable' in v['error'] for v in view.values() if not v['reachable']), f'migctl nodes: {view}')
    expect(view['node3']['this_node'] and view['node3']['status']['guests'] == 3
           and view['node1']['status']['mem_available_kib'] > 0, f'migctl nodes on node3: {view}')
    lab.cut_link(1)
    try:
        view = {v['name']: v for v in json.loads(n3.ok('migctl nodes --json', timeout=60))}
        expect(not view['node1']['reachable'] and view['node2']['reachable'], f'node1 cut off: {view}')
        rc, said = n3.sh('migctl evacuate', timeout=300)
        expect(rc == 0, f'evacuate on node3: rc {rc}: {said!r}')
        for name, (pid, home) in progs.items():
            expect(not alive(n3, pid) and alive(n2, pid), f'{name} (pid {pid}) is not on node2 after the evacuation: {said!r}')
        expect(re.search(rf'pid {progs["c"][0]} migrated to node2', said), said)
        expect(len(re.findall(r'unreachable', said)) >= 2 and len(re.findall(r'to node2 instead', said)) == 2, said)
    finally:
        lab.restore_link(1)
    deadline = time.time() + 30
    while n2.sh('migctl ping node1 --timeout 3', timeout=30)[0] != 0:
        expect(time.time() < deadline, 'node1 does not answer after its link came back')
        time.sleep(1)
    # node2 holds node1's two guests (their home travelled with them) and its own c.
    rc, said = n2.sh('migctl evacuate', timeout=300)
    expect(rc == 0 and said.count('migrated to node1') == 2, f'evacuate on node2: rc {rc}: {said!r}')
    for name, (pid, home) in progs.items():
        expect(alive(home, pid), f'{name} (pid {pid}) is not back on {home.name}')
    rc, said = n3.sh('migctl evacuate', timeout=60)
    expect(rc == 0 and 'no guest process' in said, f'node3 has guests still: {said!r}')
    limit = int(t.args.split()[0])
    for name, (pid, home) in progs.items():
        wait_for(home, r'^done$|^FAIL', path=f'/tmp/{name}', timeout=t.get('timeout', 240))
        got = numbers(''.join(text(n, f'/tmp/{name}') for n in (n1, n2, n3)))
        expect(sorted(got) == list(range(1, limit + 1)), f'{name}: lost or repeated numbers: {len(got)} of {limit}')


SCRIPTED = {'home_follows': home_follows, 'chain_node_cut_off': chain_node_cut_off, 'evacuate': evacuate}
