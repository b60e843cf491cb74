"""Scenarios of many nodes and of the lab's switch (issue 13): a process that moves on from
its first target, comes back home with `--to home`, a node evacuated, a node cut off from the
switch mid-chain, and links pulled out and plugged back during a transfer and during the lazy
phase (issue 12's fault matrix). The three-node chains themselves are generic `move`
scenarios (hops [1, 2, 3] in counter.desc and lazytouch.desc)."""
import json
import re
import time

from scenarios import expect, wait_console
from scenarios_lazy import ends_within, moved_lazily_and_reading
from scenarios_migrate import (alive, baseline, big_transfer_started, final_line, go, gone, kill_daemon, migrate,
                               numbers, restart_daemon, start, text, wait_for)

# How long a cable stays out in the "cut and restored" scenarios: several TCP retransmissions,
# well inside the daemons' link timeout (LINK_TIMEOUT, 20 s), after which a peer is given up.
BRIEF_CUT_S = 6


def ps(node):
    return json.loads(node.ok('migctl ps --json'))


def answers_again(src, dst, within=30):
    """Until dst's daemon answers src again, after dst's cable was plugged back in."""
    deadline = time.time() + within
    while src.sh(f'migctl ping {dst.name} --timeout 3', timeout=30)[0] != 0:
        expect(time.time() < deadline, f'{dst.name} does not answer {src.name} after its link came back')
        time.sleep(1)


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
    answers_again(n2, n3)
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
    answers_again(n2, n1)
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


def link_cut_mid_transfer(lab, t):
    """See bigheap.desc: node2's cable is out for a few seconds while the pages flow."""
    n1, n2 = lab.node(1), lab.node(2)
    want, pid = big_transfer_started(n1, t)
    lab.cut_link(2)
    try:
        time.sleep(BRIEF_CUT_S)
        expect('transferring' in n1.ok('migctl ps'), 'the transfer did not wait for the link: ' + n1.ok('migctl ps'))
    finally:
        lab.restore_link(2)
    out = wait_for(n1, r'^rc=', path='/tmp/m.out', timeout=240)
    expect('rc=0' in out and f'pid {pid} migrated to node2' in out, out)
    go(n2, pid)
    out = wait_for(n2, r'^checksum |^FAIL', timeout=180)
    expect('verify ok' in out and final_line(out, 'checksum') == want, out[-200:])


def lazy_link_cut(lab, t):
    """See lazytouch.desc: the target's cable is out while the moved process reads its
    memory page by page; briefly (`"fault": "brief"`: it carries on, every page right) or for
    good (SIGBUS once the link timeout passes, logged on both nodes, never a hang)."""
    n1, n2 = lab.node(1), lab.node(2)
    brief = t.get('fault') == 'brief'
    want = final_line(baseline(n2, t.cmd, go_file=True), 'checksum') if brief else None
    pid = moved_lazily_and_reading(n1, n2, t.cmd)
    time.sleep(1)
    lab.cut_link(2)
    try:
        if brief:
            time.sleep(BRIEF_CUT_S)
            expect(alive(n2, pid), f'pid {pid} ended during a {BRIEF_CUT_S} s cut')
        else:
            ends_within(n2, pid, 90, 'its source was cut off')
            expect(re.search(rf'{pid}\s+in .*killed by SIGBUS', n2.ok('migctl ps')), n2.ok('migctl ps'))
            expect(wait_console(n2, rf'pid {pid}: lazy restore lost its source'), 'node2 did not log it')
    finally:
        lab.restore_link(2)
    if brief:
        out = wait_for(n2, r'^checksum |^FAIL', timeout=180)
        expect(final_line(out, 'checksum') == want, f'{out[-200:]!r}: want {want}')
        return
    # The source learns it too (its end of the fault channel times out): the original ends.
    ends_within(n1, pid, 90, 'its copy lost its link')
    expect(re.search(rf'{pid}\s+out .*(lazy phase broken|released|migrated)', n1.ok('migctl ps')), n1.ok('migctl ps'))


def lazy_node_powered_off(lab, t):
    """See lazytouch.desc: in the lazy phase, the source (`"fault": "source-power"`) or the
    target (`"target-power"`) loses power. The node that is left ends its part within the link
    timeout and logs why: the target's process dies of SIGBUS, or the source's original
    ends."""
    n1, n2 = lab.node(1), lab.node(2)
    pid = moved_lazily_and_reading(n1, n2, t.cmd)
    time.sleep(1)
    survivor = n2 if t.get('fault') == 'source-power' else n1
    (n1 if survivor is n2 else n2).power_off()
    ends_within(survivor, pid, 90, 'the other node lost power')
    if survivor is n2:
        expect(re.search(rf'{pid}\s+in .*killed by SIGBUS', n2.ok('migctl ps')), n2.ok('migctl ps'))
        expect(wait_console(n2, rf'pid {pid}: lazy restore lost its source'), 'node2 did not log it')
    else:
        expect(re.search(rf'{pid}\s+out .*lazy phase broken', n1.ok('migctl ps')), n1.ok('migctl ps'))
        expect(wait_console(n1, rf'pid {pid}: lazy phase on node2 broken'), 'node1 did not log it')


def lazy_fault_in_flight(lab, t):
    """See lazytouch.desc: during the lazy phase, with the process reading its memory from
    node1 page by page: "killed-waiting": node2's cable is out, so its faults wait, and the
    process is killed with SIGKILL: it dies at once, and once the cable is back node1 lets
    the original go; "target-daemon-killed": node2's daemon (its fault channel) is killed:
    the process ends with SIGBUS on its next missing page, logged, and a daemon started again
    serves; "rmmod": migr.ko is removed on both nodes: refused while it serves (in use), the
    process finishes with the checksum of a run never migrated."""
    n1, n2 = lab.node(1), lab.node(2)
    fault = t.get('fault')
    want = final_line(baseline(n2, t.cmd, go_file=True), 'checksum') if fault == 'rmmod' else None
    pid = moved_lazily_and_reading(n1, n2, t.cmd)
    time.sleep(1)
    if fault == 'killed-waiting':
        lab.cut_link(2)
        try:
            time.sleep(2)
            n2.ok(f'kill -9 {pid}')
            ends_within(n2, pid, 10, 'SIGKILL while it waited for a page')
        finally:
            lab.restore_link(2)
        expect(re.search(rf'{pid}\s+in .*killed by SIGKILL', n2.ok('migctl ps')), n2.ok('migctl ps'))
    elif fault == 'target-daemon-killed':
        kill_daemon(n2)
        ends_within(n2, pid, 60, 'node2\'s daemon was killed')
        expect(wait_console(n2, rf'pid {pid}.*(SIGBUS|no page source|lost)'), 'node2 did not log why it ended')
        restart_daemon(n2)
        n1.ok('migctl ping node2 --timeout 10', timeout=30)
    else:
        for node in (n1, n2):
            rc, said = node.sh('rmmod migr 2>&1')
            expect(rc != 0 and re.search(r'in use|busy|temporarily unavailable', said, re.I), f'{node.name}: rmmod during the lazy phase: rc {rc}: {said!r}')
        out = wait_for(n2, r'^checksum |^FAIL', timeout=180)
        expect(final_line(out, 'checksum') == want, f'{out[-200:]!r}: want {want}')
    # Whatever happened there, the parked original on node1 goes.
    ends_within(n1, pid, 90, 'its copy\'s fate was settled')


def target_out_of_memory(lab, t):
    """See bigheap.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    mib = int(t.args.split()[0])
    want = final_line(baseline(n1, t.cmd, go_file=True), 'checksum')
    # node2's memory taken but for half of what the program needs, by a program the OOM
    # killer spares (there is no swap: what it holds stays).
    avail = int(n2.ok("awk '/^MemAvailable/ {print $2}' /proc/meminfo").strip()) // 1024
    hog = start(n2, f'lazytouch {max(avail - mib // 2, 16)} 0', out='/tmp/hog')
    n2.ok(f'echo -1000 > /proc/{hog}/oom_score_adj')
    wait_for(n2, r'^ready$', path='/tmp/hog', timeout=300)
    pid = start(n1, t.cmd)
    wait_for(n1, r'^ready$', timeout=120)
    rc, said = n1.sh(f'migctl migrate {pid} --to node2 --mode eager --no-deputy', timeout=300)
    expect(rc != 0 and 'carries on at home' in said, f'moved into a node without the memory: rc {rc}: {said!r}')
    expect(wait_console(n2, r'Out of memory: Killed process \d+'), 'node2\'s OOM killer did not act')
    expect(wait_console(n2, r'the copy being built was killed'), 'node2 did not log why the restore failed')
    expect(alive(n2, hog), 'the OOM killer took the program it should spare')
    n2.ok(f'kill {hog}')
    expect(not alive(n2, pid) or alive(n1, pid), 'pid left behind on node2')
    go(n1, pid)
    out = wait_for(n1, r'^checksum |^FAIL', timeout=180)
    expect(final_line(out, 'checksum') == want, f'{out[-200:]!r}: want {want}')


SCRIPTED = {'target_out_of_memory': target_out_of_memory, 'home_follows': home_follows, 'lazy_node_powered_off': lazy_node_powered_off,
            'lazy_fault_in_flight': lazy_fault_in_flight, 'chain_node_cut_off': chain_node_cut_off, 'evacuate': evacuate,
            'link_cut_mid_transfer': link_cut_mid_transfer, 'lazy_link_cut': lazy_link_cut}
