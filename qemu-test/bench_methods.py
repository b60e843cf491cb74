"""How each method of `make bench` moves the running benchload from node1 to node2.

Each method is a pair: `start(lab, pid)` sets the move going (it returns once the move is
under way or done; the bench then waits for the program's result on node2 and for
/tmp/released on node1), and `stats(lab, pid)` returns the method's own figures once the source
is released. Every method starts `netprobe waitgone` on node1 first: it writes
/tmp/released the moment the original process (and, for CRIU, the dump process that keeps
serving its pages) is gone. Commands that run in the background close the lab agent's
descriptors 3-5 so that nothing of the agent leaks into the migrated process or CRIU.
"""
import json
import re
import time

BG = '</dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- &'
CRIU_PAGES_PORT = 9000
CRIU_IMAGES_PORT = 9001


def watch_release(node, *pids):
    pids = ' '.join(str(p) for p in pids)
    node.ok(f'(netprobe waitgone {pids} > /tmp/released.new && mv /tmp/released.new /tmp/released) {BG}')


def last_stats(node):
    lines = [l for l in node.ok('migctl stats --json').splitlines() if l.strip()]
    return json.loads(lines[-1]) if lines else {}


def pager_waits(node, pid, timeout=5):
    """The remote faults' waits as migr.ko's pager measured them (kmod/fault_wait.rs: fault
    read to page placed), from its summary line, which it writes when it ends (at the push's
    end, or within a second of the program's)."""
    deadline = time.time() + timeout
    while True:
        m = re.search(rf'pid {pid}: pager .*remote waits p50 <= (\d+) us, p99 <= (\d+) us',
                      node.ok('dmesg'))
        if m:
            return {'pager_wait_p50_us': int(m.group(1)), 'pager_wait_p99_us': int(m.group(2))}
        if time.time() > deadline:
            return {}
        time.sleep(0.5)


def migr(mode_args):
    def start(lab, pid):
        n1 = lab.node(1)
        watch_release(n1, pid)
        rc, out = n1.sh(f'migctl migrate {pid} --to node2 {mode_args} --no-deputy', timeout=1200)
        if rc != 0:
            raise RuntimeError(f'migctl migrate: exit {rc}: {out.strip()[-400:]}')

    def stats(lab, pid):
        src, dst = last_stats(lab.node(1)), last_stats(lab.node(2))
        waits = pager_waits(lab.node(2), pid) if 'lazy' in mode_args else {}
        return {**waits,'payload_bytes': src.get('wire_bytes', 0) + src.get('image_bytes', 0),
                'fault_p50_us': dst.get('fault_us_p50'), 'fault_p99_us': dst.get('fault_us_p99'),
                'remote_faults': dst.get('remote_faults'), 'pages_pushed': src.get('pages_pushed'),
                'pages_faulted': src.get('pages_faulted'), 'pages_prefetched': src.get('pages_prefetched'),
                'frozen_ms_migctl': src.get('frozen_ms'), 'fault_us_hist': dst.get('fault_us_hist')}
    return start, stats


def wait_listening(node, port):
    node.ok(f'for i in $(seq 200); do netstat -ltn | grep -q ":{port} " && exit 0; usleep 20000; done; exit 1')


# CRIU's page server with --tls (GnuTLS, mutual certificates: bench.py installs a CA and one
# node certificate on both nodes at CRIU's default paths). The node certificate's name is not
# an address, so the client does not check it against the one it dials.
TLS = '--tls --tls-no-cn-verify'


def criu_dump(tls):
    """CRIU's migration: `criu dump` sends the pages to `criu page-server` on the target
    (with `tls`, over TLS) while it writes the other images locally; those go over as a tar
    stream (in the clear: a few KiB), and the target runs `criu restore` the moment the stream
    ends."""
    return lambda lab, pid: criu_dump_start(lab, pid, TLS if tls else '')


def criu_dump_start(lab, pid, tls):
    n1, n2 = lab.node(1), lab.node(2)
    n2.ok(f'criu page-server -D /tmp/img --port {CRIU_PAGES_PORT} {tls} -o page-server.log {BG}')
    n2.ok(f'(netprobe recv {CRIU_IMAGES_PORT} | tar x -C /tmp/img && '
          f'criu restore -D /tmp/img -d -o restore.log) {BG}')
    wait_listening(n2, CRIU_PAGES_PORT)
    wait_listening(n2, CRIU_IMAGES_PORT)
    watch_release(n1, pid)
    rc, out = n1.sh(f'criu dump -t {pid} -D /tmp/img --page-server --address 192.0.2.2 '
                    f'--port {CRIU_PAGES_PORT} {tls} -o dump.log && '
                    f'tar c -C /tmp/img . | netprobe send 192.0.2.2 {CRIU_IMAGES_PORT}', timeout=1200)
    if rc != 0:
        raise RuntimeError(f'criu dump: exit {rc}: {out.strip()[-300:]} '
                           f'{n1.sh("grep Error /tmp/img/dump.log")[1][-300:]}')


def criu_lazy(tls):
    """CRIU's post-copy: `criu dump --lazy-pages` writes every image but the pages and then
    serves the pages itself (with `tls`, over TLS); the images go over as a tar stream, the
    target starts `criu lazy-pages` (which fetches faulted pages first and all the rest in the
    background) and `criu restore --lazy-pages` as soon as the lazy-pages daemon is ready."""
    return lambda lab, pid: criu_lazy_start(lab, pid, TLS if tls else '')


def criu_lazy_start(lab, pid, tls):
    n1, n2 = lab.node(1), lab.node(2)
    n2.ok(f'(netprobe recv {CRIU_IMAGES_PORT} | tar x -C /tmp/img && mkfifo /tmp/img/lp.ready && '
          f'(criu lazy-pages --page-server --address 192.0.2.1 --port {CRIU_PAGES_PORT} {tls} -D /tmp/img '
          f'-o lazy-pages.log --status-fd 6 6>/tmp/img/lp.ready &) && cat /tmp/img/lp.ready && '
          f'criu restore -D /tmp/img --lazy-pages -d -o restore.log) {BG}')
    wait_listening(n2, CRIU_IMAGES_PORT)
    n1.ok('mkfifo /tmp/dump.ready')
    n1.ok(f'criu dump -t {pid} -D /tmp/img --lazy-pages --address 192.0.2.1 --port {CRIU_PAGES_PORT} {tls} '
          f'-o dump.log --status-fd 6 6>/tmp/dump.ready {BG} echo $! > /tmp/dump.pid')
    dump_pid = int(n1.ok('cat /tmp/dump.pid').strip())
    watch_release(n1, pid, dump_pid)
    # The dump writes \0 to the status fd once its page server listens, i.e. once every
    # other image is written.
    rc, out = n1.sh(f'cat /tmp/dump.ready >/dev/null && '
                    f'tar c -C /tmp/img . | netprobe send 192.0.2.2 {CRIU_IMAGES_PORT}', timeout=1200)
    if rc != 0:
        raise RuntimeError(f'criu dump --lazy-pages: {out.strip()[-300:]} '
                           f'{n1.sh("grep Error /tmp/img/dump.log")[1][-300:]}')


def criu_stats(lab, pid):
    return {}


METHODS = {
    'migr-eager': migr('--mode eager'),
    'migr-lazy': migr('--mode lazy'),
    'migr-lazy-nopush': migr('--mode lazy --no-push'),
    'criu-dump': (criu_dump(tls=False), criu_stats),
    'criu-dump-tls': (criu_dump(tls=True), criu_stats),
    'criu-lazy': (criu_lazy(tls=False), criu_stats),
    'criu-lazy-tls': (criu_lazy(tls=True), criu_stats),
}
# Methods after which node1 lets go while the program still runs on node2 (the others' source
# serves pages until the program ends): the bench tells the program to end only after that,
# so a lazy move with push is released when the push is done, and its rate can be measured.
RELEASE_BY_ITSELF = {'migr-eager', 'migr-lazy', 'criu-dump', 'criu-dump-tls'}
# What `make bench` runs unless told (--methods): CRIU's lazy-pages over TLS only by request,
# to keep the whole bench near 30 minutes.
DEFAULT = ['migr-eager', 'migr-lazy', 'migr-lazy-nopush', 'criu-dump', 'criu-dump-tls', 'criu-lazy']
