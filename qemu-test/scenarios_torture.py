"""The differential torture test of issue 11 (progs/torture.c): the same seeded sequence of
memory operations run never migrated and migrated at its go point; every process's view
must be the same. The seeds come from the description (`seeds`), or MIGR_TORTURE_SEEDS=N
(seeds 1..N, `make torture`; or a list of seeds and ranges, 3,5-7); MIGR_TORTURE_MODE=lazy|eager overrides the description's
mode (`make torture MODE=lazy`)."""
import os

from scenarios import expect
from scenarios_lazy import wait_released
from scenarios_migrate import baseline, go, migrate, start, text, wait_for


def views(out):
    """The lines a run's processes print after go, in a fixed order (processes run in any
    order; each line says which one printed it)."""
    return sorted(l for l in out.splitlines() if l.startswith(('view ', 'done', 'FAIL')))


def seeds(t):
    n = os.environ.get('MIGR_TORTURE_SEEDS')
    if n and ',' in n or n and '-' in n:  # a list or a range of seeds: 3,5 or 4-9
        out = []
        for part in n.split(','):
            a, _, b = part.partition('-')
            out += range(int(a), int(b or a) + 1)
        return out
    return list(range(1, int(n) + 1)) if n else t.get('seeds')


def torture(lab, t):
    """See torture.desc."""
    n1, n2 = lab.node(1), lab.node(2)
    mode = os.environ.get('MIGR_TORTURE_MODE')
    if mode:
        t.mode_args = f'--mode {mode}'
    differ = []
    for seed in seeds(t):
        cmd = f'torture {seed} {t.args}'
        want = views(baseline(n2, cmd, go_file=True))
        expect('done' in want and not any(l.startswith('FAIL') for l in want), f'seed {seed} unmigrated: {want}')
        pid = start(n1, cmd)
        wait_for(n1, r'^ready$', timeout=120)
        hops = [lab.node(n) for n in t.get('hops', [1, 2])]
        for i, (a, b) in enumerate(zip(hops, hops[1:])):
            if i > 0 and t.mode == 'lazy' and '--no-push' not in t.get('migrate_args', ''):
                wait_released(hops[i - 1], pid)  # on from b once every page is there
            migrate(a, pid, b, t, extra=t.get('migrate_args', ''), timeout=120)
        last = hops[-1]
        go(last, pid)
        wait_for(last, r'^done$|^FAIL', timeout=300)
        got = views(text(last))
        if got != want:
            differ.append(f'seed {seed}: migrated {sorted(set(got) - set(want))} '
                          f'unmigrated {sorted(set(want) - set(got))}')
        n1.ok('rm -f /tmp/out'), n2.ok('rm -f /tmp/out')
    expect(not differ, f'{len(differ)} of {len(seeds(t))} seeds differ ({t.mode_args}): ' + '; '.join(differ))


SCRIPTED = {'torture': torture}
