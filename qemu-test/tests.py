"""The lab's tests as data, in the manner of CRIU's zdtm: every test program in
qemu-test/progs has a description beside it, progs/NAME.desc (JSON), which this module reads.

    {"about": "what the program is",
     "refusal": "REGEX",            # optional: migration must refuse it saying this (the
                                    # refusals scenario starts it, checks the refusal, that it
                                    # runs on, then sends it go to end it); or
                                    # {"ARGS": "REGEX", ...}: the same for each ARGS
     "tests": [                     # the scenarios that run this program, each:
       {"name": "big-heap",         # the scenario; in a mode other than the first, MODE-name
        "doc": "...",               # one line for --list
        "kind": "move",             # "move" (generic, below) or the name of a scripted
                                    # scenario in scenarios_{migrate,lazy,security}.py
        "modes": ["eager", "lazy"], # migration modes, one scenario each (default eager)
        "nodes": 2,                 # nodes it needs (the suite's labs have 3)
        "args": "256",              # the program's arguments
        "args_debug": "64",         # optional: its arguments on the debug kernel, where
                                    # KASAN slows a lazy push below what the source's hold
                                    # time (10 min) allows for 256 MiB (issue 11)
        "lab": "reboot-after"}]}    # optional: the lab cannot be reused after it

A "move" test starts the program on the first node of "hops" (default [1, 2]) with its output
appended to /tmp/out, waits for "ready" (regex, default ^ready$), migrates it along the hops
(with "migrate_args", "pause_s" before each hop), creates the go file on the last node if
"go" (the program waits for it, see progs/lib/labtest.h), runs "on_target" there ({pid} is
the pid), checks that each source let the original go and printed no FAIL, waits for
"finished" (regex) on the last node within "timeout" s, and then checks:
  "expect": [LINE...]           each a whole line of the target's output, and no FAIL line;
  "baseline": {"same": [P...], "args": A}  for each prefix P, the last line starting with P
                                equals that of a run never migrated (with args A if given);
  "counts": {"to": N, "in_order": bool, "min_on_target": K}  the numbers printed on all
                                nodes are 1..N, each once (in order across the hops if
                                in_order), at least K of them on the last node.
"setup" is a shell command run on every node first. "fault": what a scripted fault scenario
of scenarios_nodes.py does: a cable out "brief"ly or "for-good", "source-power" or
"target-power" off, the process "killed-waiting" for a page, the "target-daemon-killed",
"rmmod" on both nodes. "oom": "expected" when the scenario runs a node out of memory (the OOM killer's report is then
not a splat). "seeds": the seeds a seeded program
(progs/torture.c) runs with, see scenarios_torture.py.

Fault points come from qemu-test/faults.json (see there), the single list of them.
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PROGS = os.path.join(HERE, 'progs')

KNOWN = {'name', 'doc', 'kind', 'modes', 'nodes', 'args', 'args_debug', 'lab', 'go', 'ready', 'hops', 'pause_s',
         'migrate_args', 'on_target', 'finished', 'timeout', 'expect', 'baseline', 'counts', 'setup', 'seeds',
         'fault', 'oom'}


class Test:
    """One scenario from a description, in one mode."""

    def __init__(self, prog, entry, mode, first_mode):
        unknown = set(entry) - KNOWN
        if unknown:
            raise ValueError(f'{prog}.desc: {entry.get("name")}: unknown keys {sorted(unknown)}')
        self.prog, self.entry, self.mode = prog, entry, mode
        self.name = entry['name'] if mode == first_mode else f'{mode}-{entry["name"]}'
        doc = entry['doc']
        self.doc = doc if mode == first_mode else f'{mode.capitalize()} mode: {doc}'
        self.kind = entry.get('kind', 'move')
        # The kernel variant the runner runs (qemu-test/run sets it).
        variant = os.environ.get('MIGR_LAB_KERNEL', 'normal')
        self.args = entry.get(f'args_{variant}', entry.get('args', ''))
        self.cmd = f'{prog} {self.args}'.strip()
        self.nodes = entry.get('nodes', 2)
        self.reboot_after = entry.get('lab') == 'reboot-after'
        # Without a deputy unless the scenario asks for one (--deputy after these wins): the
        # deputy's own scenarios (scenarios_deputy.py) test the default.
        self.mode_args = f'--mode {mode} --no-deputy'

    def get(self, key, default=None):
        return self.entry.get(key, default)


def descriptions():
    """{program: description dict} for every progs/*.desc."""
    out = {}
    for f in sorted(os.listdir(PROGS)):
        if f.endswith('.desc'):
            with open(os.path.join(PROGS, f)) as fh:
                try:
                    out[f[:-5]] = json.load(fh)
                except ValueError as e:
                    raise ValueError(f'progs/{f}: {e}') from None
    return out


def programs():
    """Names of the programs prepare builds (progs/*.c, *.dyn.c, *.S)."""
    names = set()
    for f in os.listdir(PROGS):
        m = re.fullmatch(r'(.*?)(\.dyn)?\.(c|S)', f)
        if m:
            names.add(m.group(1))
    return names


def tests():
    """Every scenario the descriptions declare, in a stable order."""
    descs = descriptions()
    missing = programs() - set(descs)
    if missing:
        raise ValueError(f'test programs without a description: {sorted(missing)}')
    out = []
    for prog, d in descs.items():
        for entry in d.get('tests', []):
            modes = entry.get('modes', ['eager'])
            for mode in modes:
                out.append(Test(prog, entry, mode, modes[0]))
    names = [t.name for t in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f'scenario names declared twice: {sorted(dup)}')
    return out


def refusing_programs():
    """[(command, refusal regex)] of every description naming a refusal: `"refusal": "regex"`
    for the program itself, or `{"ARGS": "regex", ...}` for the program run with each ARGS."""
    out = []
    for p, d in descriptions().items():
        r = d.get('refusal')
        if isinstance(r, dict):
            out += [(f'{p} {args}', why) for args, why in r.items()]
        elif r:
            out.append((p, r))
    return out


def fault_points():
    """faults.json, checked against the daemon's own list (enum FaultPoint in ctl/src/fault.rs)."""
    with open(os.path.join(HERE, 'faults.json')) as f:
        faults = json.load(f)
    with open(os.path.join(TOP, 'ctl/src/fault.rs')) as f:
        src = f.read()
    # The daemon's points are the variants of `enum FaultPoint` (clap names them in kebab case).
    block = re.search(r'pub enum FaultPoint \{(.*?)\n\}', src, re.S)
    variants = re.findall(r'^\s*([A-Z][A-Za-z0-9]*),', re.sub(r'///.*', '', block.group(1)), re.M) if block else []
    daemon = {re.sub(r'(?<!^)(?=[A-Z])', '-', v).lower() for v in variants}
    listed = set(faults['daemon']['points'])
    if daemon != listed:
        raise ValueError(f'qemu-test/faults.json and ctl/src/fault.rs differ: only in fault.rs '
                         f'{sorted(daemon - listed)}, only in faults.json {sorted(listed - daemon)}')
    with open(os.path.join(TOP, 'kmod/fault.rs')) as f:
        module = set(re.findall(r'\(FaultPoint::\w+, "([^"]+)"\)', f.read())) - {'none'}
    if module != set(faults['kmod']['points']):
        raise ValueError(f'qemu-test/faults.json and kmod/fault.rs name different module points: '
                         f'{sorted(module)} vs {sorted(faults["kmod"]["points"])}')
    return faults


def points(outcome):
    """[(layer, point, spec)] of every fault point with this outcome, daemon's then module's.
    A module layer without an 'arm' command yet contributes nothing."""
    faults = fault_points()
    out = []
    for layer in ('daemon', 'kmod'):
        spec = faults.get(layer) or {}
        if layer == 'kmod' and not spec.get('arm'):
            continue
        for point, p in spec.get('points', {}).items():
            if p['outcome'] == outcome:
                out.append((layer, point, dict(p, logged=spec['logged'].format(point=point),
                                               arm=spec.get('arm'), disarm=spec.get('disarm'))))
    return out
