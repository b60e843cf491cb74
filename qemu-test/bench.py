#!/usr/bin/python3
"""make bench: migr measured side by side with CRIU and the raw network, in one lab, one run.

Usage: qemu-test/bench.py [--quick] [--sizes 16,256] [--touched 10,50] [--methods ...]
                          [--results FILE] [--report FILE]

One two-node lab (datagram link, nodes sized for a 1 GiB process) runs every cell of the
matrix: process size x fraction touched after the move x method, where the methods are
migr stop-and-copy, migr lazy with push, migr lazy without push, CRIU dump with its page
server followed by restore (in the clear, and with --tls: migr's channel is always
encrypted), and CRIU lazy-pages (criu-lazy-tls by request). Every cell runs `benchload` (qemu-test/progs),
which fills its memory, beats every millisecond, and on the target writes the gap in its
heartbeat and checks every word it reads back. Before each size the raw network is measured
the same way: the same bytes over one plain TCP connection, and 4 KiB request/reply round
trips. After the matrix, `faultprobe` measures remote fault latency alone (random access,
lazy without push): as the program, migr.ko's pager and the target's daemon each time it,
beside the raw request/reply. Results go to a JSON file (one record per cell or probe); bench_report.py turns them
into docs/BENCH.md and the plots.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, LabError  # noqa: E402
import bench_methods  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE_PORT = 5000
RR_ROUNDS = 300


def prepare():
    out = subprocess.run([os.path.join(TOP, 'qemu-test/prepare'), 'normal'], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return dict(line.split('=', 1) for line in out.split())


LABS = [0]


def start_lab(paths, logdir, sizes, tries=3):
    """Boot the bench's lab (logs of the n-th boot in logdir/lab-n); a boot that fails, or
    leaves a node on a coarse clock, is tried again."""
    for attempt in range(tries):
        try:
            return boot_lab(paths, logdir, sizes)
        except LabError as e:
            if attempt == tries - 1:
                raise
            print(f'lab boot failed ({e}); booting again', flush=True)


def boot_lab(paths, logdir, sizes):
    LABS[0] += 1
    logdir = os.path.join(logdir, f'lab-{LABS[0]}')
    # The target holds the process and, for CRIU, its page images in tmpfs (half the RAM):
    # 3.5 GiB keeps a 1 GiB process and its images in memory with room to spare.
    mem_mb = 3584 if max(sizes) > 256 else 1536
    lab = Lab(paths['KERNEL'], paths['INITRD'], logdir, mem_mb=mem_mb, link='datagram', host_tsc=True)
    try:
        lab.start()
        check_nodes(lab)
    except LabError:
        lab.stop()
        raise
    return lab


TLS_FILES = {}


def tls_files():
    """A CA and one node certificate for CRIU's --tls (EC P-256, made once per run with
    openssl): {path on the node: PEM}, at CRIU's default paths."""
    if not TLS_FILES:
        d = tempfile.mkdtemp(prefix='migr-bench-tls-')
        ext = os.path.join(d, 'ext')
        with open(ext, 'w') as f:
            f.write('basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n')
        ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        run = lambda *a: subprocess.run(['openssl', *a], cwd=d, check=True, capture_output=True)
        run('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '7', '-subj', '/CN=migr bench CA')
        run('req', *ec, '-keyout', 'key.pem', '-out', 'node.csr', '-subj', '/CN=migr bench node')
        run('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
            '-out', 'cert.pem', '-days', '7', '-extfile', ext)
        for name, path in [('ca.pem', '/etc/pki/CA/cacert.pem'), ('cert.pem', '/etc/pki/criu/cert.pem'),
                           ('key.pem', '/etc/pki/criu/private/key.pem')]:
            with open(os.path.join(d, name)) as f:
                TLS_FILES[path] = f.read()
        shutil.rmtree(d)
    return TLS_FILES


def check_nodes(lab):
    for path, pem in tls_files().items():
        for node in lab.nodes:
            node.ok(f"mkdir -p {os.path.dirname(path)} && cat > {path} <<'EOF'\n{pem}EOF\nchmod 600 {path}")
    for node in lab.nodes:
        clock = node.ok('cat /sys/devices/system/clocksource/clocksource0/current_clocksource').strip()
        if clock != 'tsc':
            raise LabError(f'{node.name} keeps time with {clock}, not tsc: its timings would be coarse')
        node.ok(f'netprobe serve {PROBE_PORT} </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- &')


def probe_network(lab, mib):
    """The lab's own limits for `mib` MiB: one plain TCP stream node1 -> node2, and the
    round trip of a 16-byte request answered by 4 KiB (what a remote fault costs at least)."""
    n1 = lab.node(1)
    out = n1.ok(f'netprobe stream 192.0.2.2 {PROBE_PORT} {mib}', timeout=600)
    m = re.search(r'stream (\d+) bytes (\d+) ns', out)
    rr = re.search(r'rr \d+ p50 (\d+) p99 (\d+)',
                   n1.ok(f'netprobe rr 192.0.2.2 {PROBE_PORT} {RR_ROUNDS}', timeout=300))
    return {'kind': 'network', 'size_mib': mib, 'stream_bytes': int(m.group(1)),
            'stream_ms': int(m.group(2)) / 1e6, 'rr_p50_us': int(rr.group(1)),
            'rr_p99_us': int(rr.group(2))}


def run_cell(lab, mib, percent, method):
    """One migration of a fresh benchload; returns its record (raises on any failure, naming
    the step that failed)."""
    step = ['start']
    try:
        return _run_cell(lab, mib, percent, method, step)
    except Exception as e:
        raise LabError(f'{step[0]}: {e}') from e


def _run_cell(lab, mib, percent, method, step):
    n1, n2 = lab.node(1), lab.node(2)
    for node in (n1, n2):
        node.ok('rm -rf /tmp/bench /tmp/img /tmp/released* /tmp/dump.*; mkdir -p /tmp/img')
    pid = int(n1.ok(f'setsid benchload {mib} {percent} /tmp/bench </dev/null >/dev/null 2>&1 '
                    f'3>&- 4>&- 5>&- & echo $!').strip())
    step[0] = 'filling memory'
    poll(n1, 'cat /tmp/bench/ready', timeout=60 + mib / 4)
    before = iface_bytes(n1)
    start, stats = bench_methods.METHODS[method]
    step[0] = 'moving'
    start(lab, pid)
    step[0] = 'waiting for the result on node2'
    result = dict(line.split(' ', 1) for line in
                  poll(n2, 'cat /tmp/bench/result', timeout=300 + mib).splitlines())
    # The program stays until told: a method whose source lets go by itself (the push, a
    # stop-and-copy) is timed by that; one whose source serves until the program ends is told
    # now.
    lets_go = method in bench_methods.RELEASE_BY_ITSELF
    if not lets_go:
        n2.ok('touch /tmp/bench/exit')
    step[0] = 'waiting for node1 to be released'
    released = int(poll(n1, 'cat /tmp/released', timeout=300 + mib).strip())
    if lets_go:
        n2.ok('touch /tmp/bench/exit')
    step[0] = 'collecting figures'
    after = iface_bytes(n1)
    # node1's clock minus node2's, from the probe with the shortest round trip.
    clock = re.search(r'clock offset (-?\d+) rtt (\d+)',
                      n2.ok(f'netprobe clock 192.0.2.1 {PROBE_PORT} 40', timeout=60))
    offset, rtt = int(clock.group(1)), int(clock.group(2))
    last_source = int(result['last_source_ns'])
    first_target = int(result['first_target_ns']) + offset
    rec = {'kind': 'cell', 'size_mib': mib, 'touched_pct': percent, 'method': method,
           'downtime_ms': (first_target - last_source) / 1e6,
           'release_ms': (released - last_source) / 1e6,
           'wire_bytes': after - before,
           'touched_bytes': int(result['pages']) * 4096,
           'touch_ms': int(result['touch_ns']) / 1e6,
           'check': result['check'], 'clock_rtt_us': rtt / 1e3}
    rec.update(stats(lab, pid))
    if result['check'] != 'ok' or result['node'] != 'node2':
        raise LabError(f'benchload on the target: {result}')
    return rec


def poll(node, cmd, timeout, every=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rc, out = node.sh(cmd, timeout=60)
        if rc == 0:
            return out
        time.sleep(every)
    raise LabError(f'{node.name}: `{cmd}` never succeeded within {timeout:.0f} s')


FAULT_PROBE = (256, 1000, 3000)  # MiB, pages touched, microseconds between touches


def probe_faults(lab):
    """Remote fault latency with nothing else in the way: `faultprobe` moved lazily without
    push touches pages far apart (each touch a fault of its own, its window never used), and
    times each touch itself. Beside it the pager's figure (fault read to page placed) and the
    target daemon's (request sent to page placed), and the raw 4 KiB request/reply just
    before, so the parts of a fault show."""
    n1, n2 = lab.node(1), lab.node(2)
    mib, pages, gap_us = FAULT_PROBE
    for node in (n1, n2):
        node.ok('rm -rf /tmp/fp')
    pid = int(n1.ok(f'setsid faultprobe {mib} {pages} {gap_us} /tmp/fp </dev/null >/dev/null 2>&1 '
                    f'3>&- 4>&- 5>&- & echo $!').strip())
    poll(n1, 'test -e /tmp/fp/ready', timeout=120)
    rr = re.search(r'rr \d+ p50 (\d+) p99 (\d+)',
                   n1.ok(f'netprobe rr 192.0.2.2 {PROBE_PORT} {RR_ROUNDS}', timeout=300))
    rc, out = n1.sh(f'migctl migrate {pid} --to node2 --mode lazy --no-push --no-deputy', timeout=600)
    if rc != 0:
        raise LabError(f'migctl migrate: exit {rc}: {out.strip()[-400:]}')
    n2.ok('mkdir -p /tmp/fp && touch /tmp/fp/go')
    result = dict(line.split(' ', 1) for line in
                  poll(n2, 'cat /tmp/fp/result', timeout=600).splitlines())
    if result.get('check') != 'ok' or result.get('node') != 'node2':
        raise LabError(f'faultprobe on the target: {result}')
    waits = bench_methods.pager_waits(n2, pid)
    dst = bench_methods.last_stats(n2)
    return {'kind': 'faults', 'size_mib': mib, 'pages': int(result['pages']), 'local': int(result['local']),
            'p50_us': int(result['p50_us']), 'p90_us': int(result['p90_us']), 'p99_us': int(result['p99_us']),
            'pager_p50_us': waits.get('pager_wait_p50_us'), 'pager_p99_us': waits.get('pager_wait_p99_us'),
            'daemon_p50_us': dst.get('fault_us_p50'), 'daemon_p99_us': dst.get('fault_us_p99'),
            'remote_faults': dst.get('remote_faults'),
            'rr_p50_us': int(rr.group(1)), 'rr_p99_us': int(rr.group(2))}


def iface_bytes(node):
    """Bytes through node1's only link, both ways: everything a migration puts on the wire
    (payload, headers, acknowledgements, control messages)."""
    out = node.ok('cat /sys/class/net/eth0/statistics/rx_bytes /sys/class/net/eth0/statistics/tx_bytes')
    return sum(int(x) for x in out.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true',
                    help='16 and 128 MiB, 10%% and 100%% touched: the whole picture in under 5 minutes')
    ap.add_argument('--sizes', help='comma-separated MiB (default 16,256,1024)')
    ap.add_argument('--touched', help='comma-separated percent (default 10,50,100)')
    ap.add_argument('--methods', default=','.join(bench_methods.DEFAULT))
    ap.add_argument('--results', default=os.path.join(TOP, 'build/bench/results.json'))
    ap.add_argument('--report', default=os.path.join(TOP, 'docs/BENCH.md'))
    args = ap.parse_args()
    sizes = [int(x) for x in (args.sizes or ('16,128' if args.quick else '16,256,1024')).split(',')]
    touched = [int(x) for x in (args.touched or ('10,100' if args.quick else '10,50,100')).split(',')]
    methods = args.methods.split(',')
    unknown = [m for m in methods if m not in bench_methods.METHODS]
    if unknown:
        ap.error(f'unknown method(s) {unknown}; known: {list(bench_methods.METHODS)}')
    paths = prepare()
    # The commit measured (the report may be written again later from the results).
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=TOP, text=True,
                            stdout=subprocess.PIPE).stdout.strip()
    if subprocess.run(['git', 'status', '--porcelain'], cwd=TOP, text=True, stdout=subprocess.PIPE).stdout:
        commit += ' (with uncommitted changes)'
    logdir = os.path.join(TOP, 'build/bench/logs')
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    started = time.time()
    records, failed, splats = [], 0, []
    lab = start_lab(paths, logdir, sizes)
    try:
        for mib in sizes:
            net = probe_network(lab, mib)
            records.append(net)
            print(f'network {mib} MiB: stream {net["stream_ms"]:.0f} ms, '
                  f'4 KiB rr p50 {net["rr_p50_us"]} us p99 {net["rr_p99_us"]} us', flush=True)
            for percent in touched:
                for method in methods:
                    t = time.time()
                    try:
                        rec = run_cell(lab, mib, percent, method)
                        print(f'PASS {method} {mib} MiB {percent}%: downtime {rec["downtime_ms"]:.0f} ms, '
                              f'released {rec["release_ms"]:.0f} ms, wire {rec["wire_bytes"] / 2**20:.1f} MiB '
                              f'({time.time() - t:.0f} s)', flush=True)
                    except Exception as e:  # a failed cell is reported, and the lab rebooted
                        failed += 1
                        rec = {'kind': 'cell', 'size_mib': mib, 'touched_pct': percent,
                               'method': method, 'error': str(e)[-600:]}
                        print(f'FAIL {method} {mib} MiB {percent}%: {rec["error"]}', flush=True)
                        lab.stop()
                        splats += lab.splats()
                        lab = start_lab(paths, logdir, sizes)
                    records.append(rec)
                    with open(args.results, 'w') as f:
                        json.dump(records, f, indent=1)
        if 'migr-lazy-nopush' in methods:
            try:
                rec = probe_faults(lab)
                print(f'PASS remote fault latency: p50 {rec["p50_us"]} us as the program sees it, '
                      f'pager {rec["pager_p50_us"]} us, daemon {rec["daemon_p50_us"]} us, '
                      f'raw request/reply {rec["rr_p50_us"]} us', flush=True)
            except Exception as e:
                failed += 1
                rec = {'kind': 'faults', 'error': str(e)[-600:]}
                print(f'FAIL remote fault latency: {rec["error"]}', flush=True)
            records.append(rec)
    finally:
        lab.stop()
    splats += lab.splats()
    meta = {'kind': 'meta', 'seconds': time.time() - started, 'sizes': sizes, 'touched': touched,
            'methods': methods, 'splats': splats, 'commit': commit,
            'date': time.strftime('%Y-%m-%d %H:%M')}
    records.append(meta)
    with open(args.results, 'w') as f:
        json.dump(records, f, indent=1)
    subprocess.run([sys.executable, os.path.join(TOP, 'qemu-test/bench_report.py'), args.results,
                    args.report], check=True)
    cells = [r for r in records if r['kind'] in ('cell', 'faults')]
    print(f'bench: {len(cells)} cells in {meta["seconds"] / 60:.1f} min; report {os.path.relpath(args.report, TOP)}')
    if splats:
        print(f'bench: kernel splat: {splats[0]}')
    print(f'bench: {len(cells) - failed} passed, {failed + (1 if splats else 0)} failed')
    return 1 if failed or splats else 0


if __name__ == '__main__':
    sys.exit(main())
