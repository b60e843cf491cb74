#!/usr/bin/python3
"""bench_report.py RESULTS.json BENCH.md: the report of `make bench`, from its results.

Writes BENCH.md (date, machine, commit, the raw network, one table per process size, the
targets as measured) and, next to it, bench/downtime.png and bench/wire.png.
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = {
    'migr-eager': 'migr stop-and-copy',
    'migr-lazy': 'migr lazy, push',
    'migr-lazy-nopush': 'migr lazy, no push',
    'criu-dump': 'CRIU dump + page server, restore',
    'criu-dump-tls': 'CRIU dump + page server --tls, restore',
    'criu-lazy': 'CRIU lazy-pages',
    'criu-lazy-tls': 'CRIU lazy-pages --tls',
}
MIB = 1 << 20


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, cwd=TOP, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout.strip()
    except OSError:
        return ''


def machine():
    cpu = sh("sed -n 's/^model name\\s*: //p' /proc/cpuinfo | head -1")
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    return f'{cpu}, {os.cpu_count()} cores, {mem}, {platform.system()} {platform.release()}'


def fmt(x, digits=0):
    if x is None:
        return 'n/a'
    return f'{x:,.{digits}f}'


def cells_of(records):
    return [r for r in records if r['kind'] == 'cell' and 'error' not in r]


def median_of(cells, method, mib, key):
    v = [c[key] for c in cells if c['method'] == method and c['size_mib'] == mib and c.get(key) is not None]
    return statistics.median(v) if v else None


def fault_probe(records):
    """The random-access fault probe's record (bench.probe_faults), if it ran and passed."""
    return next((r for r in records if r['kind'] == 'faults' and 'error' not in r), None)


def network(records, mib):
    return next((r for r in records if r['kind'] == 'network' and r['size_mib'] == mib), None)


def verdict(ok, measured, target):
    return f'**met** ({measured}; target {target})' if ok else f'**missed** ({measured}; target {target})'


def worst_share(records, cells, sizes, method, field):
    """The size at which `method` (its median `field`, ms) gets the smallest share of the raw
    link (the same bytes over plain TCP): (share, size, its ms, the raw ms), or None."""
    worst = None
    for mib in sizes:
        net, ms = network(records, mib), median_of(cells, method, mib, field)
        if net and ms:
            share = net['stream_ms'] / ms
            if worst is None or share < worst[0]:
                worst = (share, mib, ms, net['stream_ms'])
    return worst


def share_line(name, worst, took):
    """A target line for `worst_share`'s result: `took` says what its ms are ('{} ms frozen')."""
    share, mib, ms, raw = worst
    return (name, verdict(share >= 0.8, f'{share * 100:.0f}% at {mib} MiB: {took.format(fmt(ms))}, '
                          f'the same bytes over plain TCP {fmt(raw)} ms', '>= 80%'))


def targets(records, meta):
    """The issue's five targets, each as measured in this run: (name, verdict text)."""
    cells = cells_of(records)
    sizes = meta['sizes']
    out = []
    lo, hi = min(sizes), max(sizes)
    a, b = median_of(cells, 'migr-lazy', lo, 'downtime_ms'), median_of(cells, 'migr-lazy', hi, 'downtime_ms')
    if a and b and hi > lo:
        out.append((f'Lazy downtime flat in size ({hi} MiB within 2 x of {lo} MiB)',
                    verdict(b <= 2 * a, f'{fmt(b)} ms vs {fmt(a)} ms: {b / a:.2f} x', '<= 2 x')))
    mid = 256 if 256 in sizes else hi
    m, c = median_of(cells, 'migr-lazy', mid, 'downtime_ms'), median_of(cells, 'criu-dump', mid, 'downtime_ms')
    if m and c:
        out.append((f'Lazy downtime at {mid} MiB vs CRIU freeze-to-resume',
                    verdict(c >= 10 * m, f'{fmt(m)} ms vs {fmt(c)} ms: {c / m:.1f} x lower', '>= 10 x lower')))
    worst = worst_share(records, cells, sizes, 'migr-eager', 'downtime_ms')
    if worst:
        out.append(share_line('Stop-and-copy throughput vs the raw network (worst size)', worst, '{} ms frozen'))
    # The push: the source is released when every page it held is on node2 (the program
    # stays until then, bench.py), so the release time against the same bytes over plain TCP
    # is the push's share of the link (pages faulted meanwhile count as pushed: either way
    # they crossed).
    worst = worst_share(records, cells, sizes, 'migr-lazy', 'release_ms')
    if worst:
        out.append(share_line('Push throughput vs the raw network (lazy with push, worst size)', worst,
                              'released after {} ms'))
    # Like with like: both encrypted (not one of the targets; the figure the targets' ">= 80% of
    # the raw link with encryption on" is best read beside).
    for mib in sizes:
        e, t = median_of(cells, 'migr-eager', mib, 'downtime_ms'), median_of(cells, 'criu-dump-tls', mib, 'downtime_ms')
        if e and t and mib == hi:
            out.append((f'Stop-and-copy downtime vs CRIU dump + page server --tls at {mib} MiB (both encrypted)',
                        f'{fmt(e)} ms vs {fmt(t)} ms: migr\'s is {e / t:.2f} x CRIU\'s'))
    ratios = [(c['wire_bytes'] / c['touched_bytes'], c) for c in cells
              if c['method'] == 'migr-lazy-nopush' and c['touched_bytes']]
    if ratios:
        r, c = max(ratios, key=lambda x: x[0])
        big = [x for x, cc in ratios if cc['size_mib'] >= 256]
        extra = f'; at 256 MiB and up at most {max(big):.2f} x' if big else ''
        out.append(('Lazy bytes on the wire vs touched pages (no push, worst cell)',
                    verdict(r <= 1.15, f'{r:.2f} x at {c["size_mib"]} MiB, {c["touched_pct"]}% touched{extra}',
                            '<= 1.15 x')))
    probe = fault_probe(records)
    nopush = [c for c in cells if c['method'] == 'migr-lazy-nopush' and c.get('remote_faults')]
    if probe:
        floor, med = max(probe['rr_p50_us'], 1), probe['p50_us']
        out.append(('Median remote fault vs a raw 4 KiB request/reply (random access, no push)',
                    verdict(med <= 2 * floor,
                            f'{fmt(med)} us as the program times it vs {fmt(floor)} us: {med / floor:.1f} x; '
                            f'of it the pager saw {fmt(probe.get("pager_p50_us"))} us and the target\'s daemon '
                            f'{fmt(probe.get("daemon_p50_us"))} us (see "Remote fault latency")', '<= 2 x')))
    elif nopush:
        rr = [n['rr_p50_us'] for n in records if n['kind'] == 'network']
        floor, med = max(statistics.median(rr), 1), statistics.median(c['fault_p50_us'] for c in nopush)
        out.append(('Median remote fault vs a raw 4 KiB request/reply (no push)',
                    verdict(med <= 2 * floor, f'{fmt(med)} us vs {fmt(floor)} us: {med / floor:.1f} x', '<= 2 x')))
    return out


def plots(records, meta, outdir):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return 'matplotlib is missing (scripts/setup bench installs python3-matplotlib): no plots.'
    os.makedirs(outdir, exist_ok=True)
    cells, sizes = cells_of(records), meta['sizes']
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in meta['methods']:
        pts = [(mib, median_of(cells, method, mib, 'downtime_ms')) for mib in sizes]
        pts = [(x, y) for x, y in pts if y]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='o', label=LABELS.get(method, method))
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xticks(sizes, [f'{s} MiB' for s in sizes])
    finish(plt, fig, ax, 'process size', 'downtime, ms (median over fractions touched)',
           'Downtime against process size', os.path.join(outdir, 'downtime.png'))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 4), squeeze=False)
    for ax, mib in zip(axes[0], sizes):
        for method in meta['methods']:
            pts = sorted((c['touched_pct'], c['wire_bytes'] / MIB) for c in cells
                         if c['method'] == method and c['size_mib'] == mib)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='o', label=LABELS.get(method, method))
        ax.plot(meta['touched'], [mib * p / 100 for p in meta['touched']], 'k:', label='touched pages')
        ax.set_title(f'{mib} MiB process')
        ax.set_xlabel('% of memory touched after the move')
        ax.set_ylabel('MiB on the wire')
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, 'wire.png'), dpi=110)
    plt.close(fig)
    fault_histogram(plt, records, meta, outdir)
    return None


def fault_histogram(plt, records, meta, outdir):
    """migr's remote fault latencies, every cell of each lazy method pooled (migctl stats'
    histogram: 16 buckets per doubling), against the raw 4 KiB request/reply's median."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in meta['methods']:
        pooled = {}
        for c in cells_of(records):
            if c['method'] == method:
                for us, n in c.get('fault_us_hist') or []:
                    pooled[us] = pooled.get(us, 0) + n
        if pooled:
            xs = sorted(pooled)
            total = sum(pooled.values())
            ax.step(xs, [pooled[x] / total * 100 for x in xs], where='mid', label=LABELS.get(method, method))
    rr = [n['rr_p50_us'] for n in records if n['kind'] == 'network' and n.get('rr_p50_us')]
    if rr:
        floor = statistics.median(rr)
        ax.axvline(floor, color='k', linestyle=':', label=f'raw 4 KiB request/reply p50 ({floor:.0f} us)')
        ax.axvline(2 * floor, color='k', linestyle='--', label='target: 2 x that')
    ax.set_xscale('log')
    finish(plt, fig, ax, 'remote fault latency, us (request to pages in the pager)', '% of faults',
           'Remote fault latency, all sizes and fractions', os.path.join(outdir, 'faults.png'))


def finish(plt, fig, ax, xlabel, ylabel, title, path):
    """Label a one-plot figure, grid and legend, and save it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fault_section(records):
    """The random-access fault probe: each part of a fault as who measured it sees it."""
    failed = next((r for r in records if r['kind'] == 'faults' and 'error' in r), None)
    if failed:
        return ['', '## Remote fault latency', '', f'The fault probe FAILED: {failed["error"][-300:]}']
    p = fault_probe(records)
    if not p:
        return []
    return ['', '## Remote fault latency', '',
            f'`faultprobe` ({p["size_mib"]} MiB, moved lazily without push) touched {p["pages"]} pages far '
            f'apart ({p["local"]} of them found their page there already), one every few milliseconds, '
            f'timing each touch itself; {fmt(p.get("remote_faults"))} remote faults on node2.', '',
            '| measured by | from | to | p50 | p99 |', '|---|---|---|---:|---:|',
            f'| the program | just before its read | just after it | {fmt(p["p50_us"])} us | {fmt(p["p99_us"])} us |',
            f'| migr.ko\'s pager | the fault read off the userfaultfd | the page placed | '
            f'{fmt(p.get("pager_p50_us"))} us | {fmt(p.get("pager_p99_us"))} us |',
            f'| node2\'s daemon | the request sent | the page placed | '
            f'{fmt(p.get("daemon_p50_us"))} us | {fmt(p.get("daemon_p99_us"))} us |',
            f'| the raw network | a 16-byte request sent | 4 KiB answer read | '
            f'{fmt(p["rr_p50_us"])} us | {fmt(p["rr_p99_us"])} us |',
            '', '(The pager\'s figures are bucket bounds, within 25%.)']


def report(records, path):
    meta = next(r for r in records if r['kind'] == 'meta')
    cells = [r for r in records if r['kind'] == 'cell']
    commit = meta.get('commit') or (sh('git rev-parse --short HEAD') +
                                    (' (with uncommitted changes)' if sh('git status --porcelain') else ''))
    when = meta.get('date') or datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    plot_error = plots(records, meta, os.path.join(os.path.dirname(path), 'bench'))
    L = ['# migr benchmark', '',
         f'Written by `make bench` on {when} '
         f'({meta["seconds"] / 60:.1f} min). Commit {commit}. Host: {machine()}.', '',
         'Lab: two QEMU/TCG nodes (1 vCPU each, no KVM) on this host, linked by a QEMU datagram '
         'socket (one UDP datagram per Ethernet frame). Everything below ran in the same two VMs, '
         'one cell after the other, with the raw network measured before each size: compare '
         'within this run, not with other runs (the host is shared and noisy).', '',
         'Workload (`qemu-test/progs/benchload.c`): fills N MiB of anonymous memory, beats every '
         'millisecond, and after the move reads the first P% of its pages in order, checking every '
         'word; a cell counts only if every word was right. It then stays until node1 is released '
         '(migr stop-and-copy and lazy with push, CRIU dump) or ends at once (the methods whose '
         'source serves pages until the program ends).', '',
         '- **downtime**: the gap in the heartbeat, from the last beat on node1 to the first on '
         'node2 (node clocks aligned by an NTP-style probe; the error is at most half its round '
         'trip, well under 1 ms).',
         '- **released**: from the last beat on node1 until node1 holds nothing of the process '
         '(original gone and, for CRIU lazy-pages, the dump that serves the pages exited); for migr '
         'lazy with push, when the push has delivered every page.',
         '- **wire**: bytes through node1\'s link, both directions, headers included, from just '
         'before the move until the program has finished on node2 and node1 is released.',
         '- **fault p50/p99**: migr\'s remote faults as the target\'s daemon times them (request '
         'sent to pages in the pager), from `migctl stats`. CRIU does not report its fault latency.',
         '- **wait p50**: the same faults as migr.ko\'s pager times them (the fault read off the '
         'task\'s userfaultfd to the page placed, which wakes the task; the summary line it logs, '
         'within 25%): what the task waits, less its own fault entry and its wake-up. In this '
         'sequential read it also counts the waits for pages of a prefetch window still on its way.',
         '- **touch**: how long the program took to read its P% on node2 (local memory after '
         'stop-and-copy; remote faults in lazy modes).', '']
    if plot_error:
        L += [plot_error, '']
    L += ['## Targets, as measured', '']
    for name, text in targets(records, meta):
        L.append(f'- {name}: {text}')
    L += ['', '## The raw network of the lab', '',
          '| size | plain TCP stream | throughput | 4 KiB request/reply p50 | p99 |',
          '|---:|---:|---:|---:|---:|']
    for n in (r for r in records if r['kind'] == 'network'):
        mbps = n['stream_bytes'] / MIB / (n['stream_ms'] / 1000)
        L.append(f'| {n["size_mib"]} MiB | {fmt(n["stream_ms"])} ms | {mbps:.1f} MiB/s | '
                 f'{fmt(n["rr_p50_us"])} us | {fmt(n["rr_p99_us"])} us |')
    L += fault_section(records)
    for mib in meta['sizes']:
        net = network(records, mib)
        L += ['', f'## {mib} MiB process', '',
              '| method | touched | downtime ms | released ms | wire MiB | wire / touched | '
              'fault p50 us | fault p99 us | wait p50 us | touch ms |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
        for c in sorted((c for c in cells if c['size_mib'] == mib),
                        key=lambda c: (meta['methods'].index(c['method']), c['touched_pct'])):
            name = LABELS.get(c['method'], c['method'])
            if 'error' in c:
                L.append(f'| {name} | {c["touched_pct"]}% | FAILED: {c["error"][-160:]} | | | | | | | |')
                continue
            lazy = c['method'].startswith('migr-lazy')
            L.append(f'| {name} | {c["touched_pct"]}% | {fmt(c["downtime_ms"])} | {fmt(c["release_ms"])} | '
                     f'{c["wire_bytes"] / MIB:.1f} | {c["wire_bytes"] / c["touched_bytes"]:.2f} | '
                     f'{fmt(c.get("fault_p50_us")) if lazy else "-"} | '
                     f'{fmt(c.get("fault_p99_us")) if lazy else "-"} | '
                     f'{fmt(c.get("pager_wait_p50_us")) if lazy else "-"} | {fmt(c["touch_ms"])} |')
        crit = median_of(cells_of(records), 'criu-dump', mib, 'downtime_ms')
        lines = []
        for method in meta['methods']:
            d = median_of(cells_of(records), method, mib, 'downtime_ms')
            if d and crit and method != 'criu-dump':
                lines.append(f'{LABELS[method]} {crit / d:.1f} x')
        if lines:
            L += ['', f'Downtime, CRIU dump/restore divided by each method (median over fractions): '
                  + ', '.join(lines) + '.']
        e = median_of(cells_of(records), 'migr-eager', mib, 'downtime_ms')
        if net and e:
            L += [f'Stop-and-copy against the raw network: the same {mib} MiB over plain TCP took '
                  f'{fmt(net["stream_ms"])} ms; migr stop-and-copy was frozen {fmt(e)} ms '
                  f'({net["stream_ms"] / e * 100:.0f}% of the raw rate, counting only the memory).']
    if not plot_error:
        L += ['', '## Plots', '', '![downtime against size](bench/downtime.png)', '',
              '![bytes on the wire against fraction touched](bench/wire.png)', '',
              '![remote fault latency histogram](bench/faults.png)']
    notes = os.path.join(TOP, 'docs/bench-notes.md')
    if os.path.exists(notes):
        with open(notes) as f:
            L += ['', f.read().strip()]
    if meta.get('splats'):
        L += ['', '**Kernel splats during the run:**', ''] + [f'- `{s}`' for s in meta['splats']]
    with open(path, 'w') as f:
        f.write('\n'.join(L) + '\n')


if __name__ == '__main__':
    with open(sys.argv[1]) as f:
        records = json.load(f)
    report(records, sys.argv[2])
