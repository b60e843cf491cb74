"""Lab scenarios. Each takes a booted two-node lab and raises on failure; what it asserts is
what a user would check: the module's answers, exit codes, messages, bytes on the wire."""
import json
import os
import re
import time

from lab import LabError

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def expect(cond, why):
    if not cond:
        raise LabError(why)


def wait_console(node, pattern, timeout=10):
    """The serial console reaches its log file a little after the node writes it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, node.console_text()):
            return True
        time.sleep(0.2)
    return False


def uapi_protocol_version():
    text = open(os.path.join(TOP, 'uapi/include/uapi/linux/migr.h')).read()
    return int(re.search(r'#define MIGR_PROTOCOL_VERSION\s+(\d+)', text).group(1))


def module_loads(lab):
    """migr.ko is loaded on every node and says so on the console."""
    for node in lab.nodes:
        mods = node.ok('cat /proc/modules')
        expect(re.search(r'^migr ', mods, re.M), f'{node.name}: migr not in /proc/modules')
        expect('migr 0.1.0 loaded' in node.ok('dmesg'), f'{node.name}: no load message in dmesg')
        expect(os.path.exists(node.console), 'console log missing')


def info_answers(lab):
    """`migctl info` answers on every node, as text and as JSON, with the spec's protocol."""
    for node in lab.nodes:
        info = json.loads(node.ok('migctl info --json'))
        expect(info['protocol_version'] == uapi_protocol_version(),
               f'{node.name}: protocol {info["protocol_version"]}')
        expect(info['module_version'] == '0.1.0', f'module version {info["module_version"]}')
        expect({'info', 'stop-and-copy'} <= set(info['feature_names']), f'features {info["feature_names"]}')
        text = node.ok('migctl info')
        expect(re.search(r'protocol version:\s+%d' % uapi_protocol_version(), text), text)


def unprivileged_eperm(lab):
    """A caller without CAP_SYS_ADMIN gets EPERM from the module: one line, exit code 4."""
    rc, out = lab.node(1).sh('runas 1000 1000 migctl info')
    expect(rc == 4, f'exit code {rc}, output: {out!r}')
    expect(out.strip() == 'migctl: permission denied: driving migr needs CAP_SYS_ADMIN', repr(out))


def rmmod_clean(lab):
    """rmmod works, migctl then reports the module missing (exit 3), and it loads again."""
    node = lab.node(1)
    node.ok('rmmod migr')
    expect(not re.search(r'^migr ', node.ok('cat /proc/modules'), re.M), 'still loaded')
    rc, out = node.sh('migctl info')
    expect(rc == 3 and 'migr module not loaded' in out, f'rc {rc}: {out!r}')
    node.ok('insmod /lib/modules/migr.ko')
    node.ok('migctl info')
    node.ok('rmmod migr')
    expect('migr unloading' in node.ok('dmesg'), 'no unload message')


def nodes_reach_each_other(lab):
    """The virtual switch links every node with every other, both ways; a node whose cable
    is pulled out reaches no one and no one reaches it, until it is plugged back in."""
    for a in lab.nodes:
        for b in lab.nodes:
            if a is not b:
                a.ok(f'ping -c 1 -W 5 {b.addr}', timeout=30)
    if len(lab.nodes) > 2:
        last = lab.nodes[-1]
        lab.cut_link(last.n)
        try:
            rc, out = lab.node(1).sh(f'ping -c 2 -W 2 {last.addr}', timeout=30)
            expect(rc != 0, f'node1 reaches {last.name} with its cable out: {out!r}')
            rc, out = last.sh('ping -c 2 -W 2 192.0.2.1', timeout=30)
            expect(rc != 0, f'{last.name} reaches node1 with its cable out: {out!r}')
        finally:
            lab.restore_link(last.n)
        lab.node(1).ok(f'ping -c 1 -W 5 {last.addr}', timeout=30)


def authenticated_ping(lab):
    """migctl ping reaches the other daemon: each node has its own key and accepts the keys
    its peers file lists. A node whose key is not listed is refused with exit code 9 and the
    refusal is logged with the key; deleting a node's line revokes it at once (no restart),
    putting it back readmits it; an initiator refuses a responder it does not list; a peers
    file others could write is refused (exit code 7)."""
    n1, n2 = lab.node(1), lab.node(2)
    out = n1.ok('migctl ping 192.0.2.2', timeout=30)
    expect('node node2 answered' in out and 'module: 0.1.0' in out, out)
    pong = json.loads(n2.ok('migctl ping --json 192.0.2.1', timeout=30))
    expect(pong['node'] == 'node1', pong)
    expect(wait_console(n2, r'peer 192\.0\.2\.1:\d+ authenticated as node1'), 'node2 did not name node1')
    mine = n1.ok('migctl pubkey').split()
    expect(n1.ok("grep ' node1$' /etc/migr/peers").split() == mine, 'migctl pubkey differs from the peers file')
    expect(n1.sh('ls /etc/migr/keys')[0] != 0 and n1.ok('stat -c %a /etc/migr/node.key').strip() == '600',
           'a node keeps other nodes\' keys or its own key is exposed')

    rc, out = n1.sh('migctl keygen > /tmp/wrong.key && chmod 600 /tmp/wrong.key && '
                    'migctl ping --key /tmp/wrong.key 192.0.2.2', timeout=30)
    expect(rc == 9 and 'refused authentication' in out, f'rc {rc}: {out!r}')
    expect(wait_console(n2, r'refused peer 192\.0\.2\.1:\d+: its key [0-9a-f]{64} is not in /etc/migr/peers'),
           'node2 did not log the refusal')

    # Revocation is one edit on the refusing node, effective at the next connection.
    n2.ok("cp /etc/migr/peers /tmp/peers.all && grep -v ' node1$' /tmp/peers.all > /etc/migr/peers")
    rc, out = n1.sh('migctl ping 192.0.2.2', timeout=30)
    expect(rc == 9 and 'refused authentication' in out, f'revoked node1 was not refused: rc {rc}: {out!r}')
    n2.ok('cat /tmp/peers.all > /etc/migr/peers')
    n1.ok('migctl ping 192.0.2.2', timeout=30)

    # The initiator checks the responder's key too.
    n1.ok("grep -v ' node2$' /etc/migr/peers > /tmp/peers.no2 && chmod 644 /tmp/peers.no2")
    rc, out = n1.sh('migctl ping --peers /tmp/peers.no2 192.0.2.2', timeout=30)
    expect(rc != 0 and re.search(r'its key [0-9a-f]{64} is not in /tmp/peers\.no2', out), f'rc {rc}: {out!r}')
    n1.ok('chmod 666 /tmp/peers.no2')
    rc, out = n1.sh('migctl ping --peers /tmp/peers.no2 192.0.2.2', timeout=30)
    expect(rc == 7 and 'writable by group or others' in out, f'rc {rc}: {out!r}')
    rc, out = lab.node(1).sh('migctl ping 192.0.2.99:7070 --timeout 2', timeout=30)
    expect(rc == 8 and 'unreachable' in out, f'rc {rc}: {out!r}')


def uapi_enum_value(name):
    """The value of an enumerator of the generated uapi header (MIGR_A_TASK_PID, ...)."""
    text = open(os.path.join(TOP, 'uapi/include/uapi/linux/migr.h')).read()
    for body in re.findall(r'enum\s*\w*\s*\{(.*?)\};', text, re.S):
        value = -1
        for item in re.findall(r'^\s*(\w+)(?:\s*=\s*(\w+))?,?\s*$', body, re.M):
            value = int(item[1], 0) if item[1] else value + 1
            if item[0] == name:
                return value
    raise LabError(f'{name} not in the uapi header')


def malformed_requests_named(lab):
    """Malformed requests sent straight to the module (progs/nlprobe.c) are refused with an
    error and an extack that names what is wrong, as in-tree families do: the missing
    attribute, the attribute of the wrong size or value, an unknown attribute or command; no
    warning reaches the kernel log (the runner checks every scenario's dmesg). Restore images
    with one forged field (mm fields, sigaltstack, rseq, signal flags) are refused where the
    same image with sane fields is accepted."""
    out = lab.node(1).ok("nlprobe")
    got = {}
    for line in out.splitlines():
        m = re.match(r'^(\S+) errno=(\d+) miss_type=(-?\d+) miss_nest=(-?\d+) bad_attr=(-?\d+) msg=(.*)$', line)
        expect(m, f'unexpected line {line!r}')
        got[m.group(1)] = dict(errno=int(m.group(2)), miss_type=int(m.group(3)),
                               miss_nest=int(m.group(4)), bad_attr=int(m.group(5)), msg=m.group(6))
    pid, session = uapi_enum_value('MIGR_A_TASK_PID'), uapi_enum_value('MIGR_A_TASK_SESSION')
    unknown = uapi_enum_value('__MIGR_A_TASK_MAX') - 1 + 7  # MIGR_A_TASK_MAX + 7, as nlprobe sends
    want = {  # case: (errno, what the extack must say)
        'freeze-without-pid': (22, dict(miss_type=pid)),
        'freeze-pid-one-byte': (22, dict(bad_attr=pid)),
        'freeze-pid-negative': (22, dict(bad_attr=pid)),
        'freeze-unknown-attr': (22, dict(bad_attr=unknown)),
        'freeze-proof-not-open': (22, dict(bad_attr=uapi_enum_value('MIGR_A_TASK_PROOF_FD'))),
        'page-data-no-pager': (3, {}),
        'page-data-without-id': (22, dict(miss_type=uapi_enum_value('MIGR_A_PAGER_ID'))),
        'unknown-command': (95, {}),
        'thaw-without-session': (22, dict(miss_type=session)),
        # Restore images a peer could forge, each refused as the kernel's own setters would.
        'restore-sane-image': (0, {}),
        'restore-forged-code-range': (22, {}),
        'restore-forged-kernel-address': (22, {}),
        'restore-forged-brk': (22, {}),
        'restore-forged-sigaltstack': (22, {}),
        'restore-forged-rseq': (22, {}),
        'restore-forged-sigaction': (22, {}),
    }
    for case, (errno, extack) in want.items():
        expect(case in got, f'{case}: no answer in {out!r}')
        expect(got[case]['errno'] == errno, f'{case}: errno {got[case]["errno"]}, want {errno}: {got[case]}')
        for key, value in extack.items():
            expect(got[case][key] == value, f'{case}: {key} {got[case][key]}, want {value}: {got[case]}')
    # Without CAP_SYS_ADMIN every command is refused before its attributes are looked at
    # (admin-perm in the spec); a command the family lacks is unknown to anyone.
    out = lab.node(1).ok('runas 1000 1000 nlprobe')
    errnos = dict((l.split()[0], l.split()[1]) for l in out.splitlines())
    expect(errnos == {case: 'errno=95' if case == 'unknown-command' else 'errno=1' for case in want},
           f'unprivileged: {out!r}')

BASE = [module_loads, info_answers, unprivileged_eperm, malformed_requests_named, rmmod_clean,
        nodes_reach_each_other, authenticated_ping]
