"""Security scenarios (issue 12): the daemon migrates for any local user, so no user may gain
a right by migrating. Each takes a booted two-node lab and a description entry `t`, like
those of scenarios_migrate.py, whose helpers it uses."""
import re

from scenarios import expect
from scenarios_migrate import alive, refuse, start, untouched, wait_for


def user_cannot_reach_root_files(lab, t):
    """See counter.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    for node in (n1, n2):
        node.ok('mkdir -p /tmp/u && chown 1000:1000 /tmp/u')
    n2.ok('echo root-only > /tmp/secret && chmod 600 /tmp/secret && '
          'runas 1000 1000 ln -s /tmp/secret /tmp/u/out')
    pid = start(n1, f'cd /tmp/u && runas 1000 1000 counter {t.args}', out='/tmp/u/out')
    wait_for(n1, r'^3$', path='/tmp/u/out')
    refuse(n1, pid, 'node2', r'cannot open /tmp/u/out for descriptor 1: Permission denied',
           via='runas 1000 1000 ')
    expect(n2.ok('cat /tmp/secret') == 'root-only\n', f'root\'s file changed: {n2.ok("cat /tmp/secret")!r}')
    st = n2.ok('stat -c %u:%a /tmp/secret').strip()
    expect(st == '0:600', f'root\'s file changed hands: {st}')
    untouched(n1, pid, '/tmp/u/out')


def forged_proof_refused(lab, t):
    """See counter.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    n1.ok('dmesg -c > /dev/null')  # pids repeat from scenario to scenario (the runner resets them)
    victim = start(n1, f'counter {t.args}', out='/tmp/c.out')  # root's
    wait_for(n1, r'^3$', path='/tmp/c.out')
    # uid 1000 makes a user and pid namespace of its own with its procfs, sets the next pid
    # there so that its own counter gets the victim's number inside, and asks the daemon to
    # migrate that number: its /proc/N/mem (its own counter's memory, so the kernel let it
    # open the file) carries the same path text as the victim's would.
    script = (f'echo {victim - 1} > /proc/sys/kernel/ns_last_pid || echo cannot-set-last-pid; '
              f'counter {t.args} > /dev/null & c=$!; '
              f'sleep 0.3; [ "$c" = {victim} ] && [ -r /proc/{victim}/mem ] && echo inner-pid-ok; '
              f'migctl migrate {victim} --to node2 --no-deputy; echo rc=$?; kill $c')
    out = n1.ok(f"runas 1000 1000 unshare -r -p -f --mount-proc sh -c '{script}'", timeout=60)
    expect('inner-pid-ok' in out, f'the namespace did not give pid {victim} to the forger: {out!r}')
    expect('rc=11' in out and re.search(rf'migration refused: pid {victim}: the caller.s /proc/PID/mem is not '
                                        r'this process.s memory', out), f'not refused as forged: {out!r}')
    expect(not re.search(rf'pid {victim} frozen', n1.ok('dmesg')), f'pid {victim} was frozen')
    expect(not alive(n2, victim) or 'counter' not in n2.ok(f'cat /proc/{victim}/comm 2>/dev/null; true'),
           f'a pid {victim} counter runs on node2')
    untouched(n1, victim, '/tmp/c.out')
    # Root may still move it; and each user sees only their own migrations in `migctl ps`
    # (the refused one is uid 1000's, this one root's).
    n1.ok(f'migctl migrate {victim} --to node2 --no-deputy', timeout=120)
    mine, everyone = n1.ok('runas 1000 1000 migctl ps'), n1.ok('migctl ps')
    expect(re.search(rf'{victim}\s+out\s+node2.*refused', mine) and 'migrated to' not in mine,
           f'uid 1000 sees: {mine!r}')
    expect(re.search(rf'{victim}\s+out\s+node2.*refused', everyone) and 'migrated to node2' in everyone,
           f'root sees: {everyone!r}')
    n2.ok(f'kill -9 {victim}')


def netlink_fuzz(lab, t):
    """See nlfuzz.desc."""
    n1 = lab.node(1)
    seed, count = (int(x) for x in t.args.split())
    # Root, in a pid namespace of its own: the only tasks it can name are its own.
    rc, out = n1.sh(f'unshare -p -f nlfuzz {seed} {count} 2>&1', timeout=1200)
    expect(rc == 0 and out.rstrip().endswith('done') and f'sent {count} ' in out, f'root: rc {rc}: {out[-400:]!r}')
    # uid 1000: refused whatever it sends (EPERM, or no such command), nothing accepted.
    rc, out = n1.sh(f'runas 1000 1000 nlfuzz {seed + 1} {count // 10} 2>&1', timeout=600)
    expect(rc == 0 and out.rstrip().endswith('done') and ' accepted 0\n' in out, f'uid 1000: rc {rc}: {out[-400:]!r}')
    # The module and the daemon work as before.
    n1.ok('migctl info')


SCRIPTED = {f.__name__: f for f in [user_cannot_reach_root_files, forged_proof_refused, netlink_fuzz]}
