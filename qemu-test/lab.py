"""The migr lab: boots N QEMU/TCG nodes on one virtual network and drives them.

Each node has three serial lines: ttyS0, the console, goes to a log file; ttyS1 goes to a Unix
socket where the node's lab agent (rootfs/lab-agent.c) runs shell commands for us; ttyS2 is a
shell for a person (qemu-test/attach). The network (Lab.link):
- "bridge" (the suite, `make lab`; any number of nodes): a Linux bridge with one tap device
  per node, in a network namespace the lab creates for itself and deletes when it stops, so
  nothing of it shows in the host's network and two labs each have their own switch. Root
  only. A node's link can be cut and restored by itself (Lab.cut_link / restore_link).
- "stream" / "datagram" (two nodes only): QEMU's socket backends over loopback ports picked
  at run time; `make bench` measures over the datagram one.
"""
import base64
import itertools
import os
import re
import socket
import subprocess
import time

# A console line matching this fails the scenario: kernel warnings, oopses, lockdep, KASAN.
SPLAT = re.compile(r'BUG:|WARNING:|Oops|Kernel panic|INFO: possible|INFO: task .* blocked|'
                   r'UBSAN:|circular locking|Call Trace|general protection|DEBUG_LOCKS_WARN_ON')


def host_tsc_args():
    """Kernel arguments that give a node the host's TSC frequency. Under TCG a guest's TSC is
    the host's, but the guest calibrates it against the emulated PIT, and on a loaded host
    that fails (in one boot of seven with two nodes per lab; in five of six with the suite's
    two three-node labs side by side): the node then keeps time in jiffies ("Marking TSC
    unstable"), whose ticks a starved vCPU loses, so its clock runs slow (seen: a 35 s
    nanosleep not over 60 s later). With no HPET or PM timer in the lab kernel, nothing
    better than the host's own figure exists. On by default; LAB_HOST_TSC=0 turns it off."""
    try:
        with open('/proc/cpuinfo') as f:
            info = f.read()
    except OSError:
        return ''
    mhz = re.search(r'^cpu MHz\s*:\s*([0-9.]+)', info, re.M)
    if not mhz or not re.search(r'^flags\s*:.*\bconstant_tsc\b', info, re.M):
        return ''
    return f'tsc=reliable tsc_early_khz={int(float(mhz.group(1)) * 1000)}'


TSC_ARGS = host_tsc_args()


# How long to wait for the agent's ACK of a request before sending it again, and how often.
ACK_WAIT = 5
ACK_TRIES = 4


class LabError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_ip(*args):
    """`ip ARGS`; a failure raises LabError with what ip said."""
    r = subprocess.run(['ip', *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise LabError(f'ip {" ".join(args)}: {r.stdout.strip()}')
    return r.stdout


class Switch:
    """The lab's virtual switch: bridge br0 and taps tap1..tapN in the network namespace
    migr-lab-PID-K. Each node's QEMU runs inside that namespace (`ip netns exec` execs it, so
    the Popen pid is QEMU's) and opens its tap. The bridge has no STP (nothing loops) and no
    forwarding delay, so a port forwards as soon as it is up. Deleting the namespace deletes
    the bridge and the taps; namespaces of labs whose process died are deleted at the next
    start."""
    ids = itertools.count(1)

    def __init__(self, nodes):
        self.ns = f'migr-lab-{os.getpid()}-{next(Switch.ids)}'
        self.nodes = nodes

    @staticmethod
    def reap_stale():
        out = subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout
        for name in re.findall(r'^migr-lab-(\d+)-\d+', out, re.M):
            if not os.path.exists(f'/proc/{name}'):
                for ns in re.findall(rf'^(migr-lab-{name}-\d+)', out, re.M):
                    subprocess.run(['ip', 'netns', 'del', ns], stderr=subprocess.DEVNULL)

    def up(self):
        if os.geteuid() != 0:
            raise LabError('the lab\'s switch needs root (a network namespace with a bridge and taps)')
        Switch.reap_stale()
        run_ip('netns', 'add', self.ns)
        try:
            run_ip('-n', self.ns, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
            run_ip('-n', self.ns, 'link', 'set', 'br0', 'up')
            for n in self.nodes:
                run_ip('-n', self.ns, 'tuntap', 'add', f'tap{n}', 'mode', 'tap')
                run_ip('-n', self.ns, 'link', 'set', f'tap{n}', 'master', 'br0')
                run_ip('-n', self.ns, 'link', 'set', f'tap{n}', 'up')
        except LabError:
            self.down()
            raise

    def netdev(self, n):
        return f'tap,id=n,ifname=tap{n},script=no,downscript=no'

    def wrap(self, cmd):
        return ['ip', 'netns', 'exec', self.ns, *cmd]

    def cut(self, n):
        """Node n's cable out of the switch: its frames go nowhere, nobody's reach it."""
        run_ip('-n', self.ns, 'link', 'set', f'tap{n}', 'nomaster')

    def restore(self, n):
        run_ip('-n', self.ns, 'link', 'set', f'tap{n}', 'master', 'br0')

    def down(self):
        subprocess.run(['ip', 'netns', 'del', self.ns], stderr=subprocess.DEVNULL)


def wait_listening(port, deadline):
    """Until a socket of this host listens on TCP `port` (found in /proc/net/tcp: trying to
    connect would take the one connection a QEMU socket netdev accepts)."""
    while time.time() < deadline:
        with open('/proc/net/tcp') as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == '0A' and int(local.split(':')[1], 16) == port:
                    return
        time.sleep(0.05)
    raise LabError(f'nothing listens on port {port} (node 2\'s QEMU)')


class Node:
    def __init__(self, lab, n):
        self.lab, self.n = lab, n
        self.name = f'node{n}'
        self.addr = f'192.0.2.{n}'
        self.console = os.path.join(lab.logdir, f'{self.name}.console.log')
        self.sock_path = os.path.join(lab.rundir, f'{self.name}.ctl')
        self.shell_path = os.path.join(lab.rundir, f'{self.name}.shell')
        self.proc = None
        self.sock = None
        self.buf = b''
        self.ids = itertools.count(1)
        self.resends = 0  # requests sent again for want of an ACK (see sh)
        self.since = 0  # console_text() starts here: where the current scenario began

    def qemu_cmd(self, netdev):
        mac = f'52:54:00:00:00:{self.n:02x}'
        # la57=off: with 5-level paging, 6.12's KASAN reports a false "wild-memory-access"
        # when an interrupt comes while identify_cpu() has cleared the boot CPU's feature
        # bits (arch/x86/kernel/cpu/common.c memsets x86_capability and detects again):
        # pgtable_l5_enabled() reads false for that moment, KASAN_SHADOW_START moves with it,
        # and every direct-map address (0xff11... with LA57) looks unshadowed. Seen at boot
        # in about one debug lab of ten (`do_raw_spin_lock` from handle_edge_irq inside
        # identify_cpu); nodes of 4-level paging have no such window.
        return ['qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max,la57=off', '-smp', '1',
                '-m', str(self.lab.mem_mb), '-display', 'none', '-monitor', 'none',
                '-no-reboot', '-kernel', self.lab.kernel, '-initrd', self.lab.initrd,
                '-append', ' '.join(['console=ttyS0 panic=-1', 'oops=panic' if self.lab.panic_on_oops else '',
                                     TSC_ARGS if self.lab.host_tsc else '',
                                     f'migr.node={self.n}']).replace('  ', ' ').replace('  ', ' '),
                '-chardev', f'file,id=con,path={self.console}', '-serial', 'chardev:con',
                '-chardev', f'socket,id=ctl,path={self.sock_path},server=on,wait=off',
                '-serial', 'chardev:ctl',
                '-chardev', f'socket,id=sh,path={self.shell_path},server=on,wait=off',
                '-serial', 'chardev:sh',
                '-netdev', netdev, '-device', f'virtio-net-pci,netdev=n,mac={mac}']

    def start(self, netdev):
        cmd = self.qemu_cmd(netdev)
        if self.lab.switch:
            cmd = self.lab.switch.wrap(cmd)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.console + '.qemu', 'w'))

    def connect(self, deadline):
        """Attach to the control socket; must happen before the agent's @@READY is sent, since
        QEMU drops what a socket chardev receives while no client is attached."""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise LabError(f'{self.name}: qemu exited ({self.proc.returncode}) during boot')
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock_path)
                self.sock = s
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise LabError(f'{self.name}: control socket never appeared')

    def wait_ready(self, deadline):
        self._read_until(b'@@READY\n', deadline)

    def _read_until(self, marker, deadline):
        while marker not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise LabError(f'{self.name}: timed out waiting for the agent')
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise LabError(f'{self.name}: control line closed (node died?)')
            self.buf += data
        head, _, self.buf = self.buf.partition(marker)
        return head

    def sh(self, script, timeout=60):
        """Run a shell script on the node; returns (rc, output)."""
        i = next(self.ids)
        payload = base64.b64encode(script.encode()).decode()
        line = f'{i} {len(payload)} {payload} {i}\n'.encode()
        deadline = time.time() + timeout
        # The agent acknowledges a request before running it; a request garbled on the
        # serial line (a busy node can drop bytes) gets no ACK and is sent again.
        for attempt in range(ACK_TRIES):
            self.sock.sendall(line)
            try:
                self._read_until(f'@@ACK {i}\n'.encode(), min(deadline, time.time() + ACK_WAIT))
                break
            except LabError as e:
                if 'closed' in str(e):
                    raise
                self.resends += 1
                if attempt == ACK_TRIES - 1 or time.time() >= deadline:
                    raise LabError(f'{self.name}: no ACK for command {i} ({script.strip()[:80]!r}) '
                                   f'after {ACK_TRIES} tries')
        try:
            self._read_until(f'@@BEGIN {i}\n'.encode(), deadline)
            body = self._read_until(f'@@END {i} '.encode(), deadline)
            rc = self._read_until(b'\n', deadline)
        except LabError as e:
            raise LabError(f'{e} (command {i}: {script.strip()[:80]!r}; '
                           f'received {self.buf[-120:]!r})') from None
        return int(rc), base64.b64decode(body).decode(errors='replace')

    def ok(self, script, timeout=60):
        """Run a script that must succeed; returns its output."""
        rc, out = self.sh(script, timeout)
        if rc != 0:
            raise LabError(f'{self.name}: `{script}` exited {rc}: {out.strip()[-500:]}')
        return out

    def console_size(self):
        try:
            return os.path.getsize(self.console)
        except OSError:
            return 0

    def console_text(self, since=None):
        """The console since the current scenario began (a lab serves several in turn; see
        Lab.mark), or since byte `since`."""
        try:
            with open(self.console, 'rb') as f:
                f.seek(self.since if since is None else since)
                return f.read().decode(errors='replace')
        except FileNotFoundError:
            return ''

    def power_off(self):
        """Cut the power: the node vanishes from the network without a word."""
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        self.sock = None

    def stop(self):
        if self.sock:
            try:
                payload = base64.b64encode(b'sync; reboot -f')
                self.sock.sendall(b'0 %d %s 0\n' % (len(payload), payload))
            except OSError:
                pass
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Lab:
    def __init__(self, kernel, initrd, logdir, nodes=2, mem_mb=1024, panic_on_oops=False,
                 link='bridge', host_tsc=os.environ.get('LAB_HOST_TSC', '1') != '0'):
        if link not in ('bridge', 'stream', 'datagram'):
            raise LabError(f'unknown link {link!r} (bridge, stream, datagram)')
        if link != 'bridge' and nodes != 2:
            raise LabError(f'the {link} link joins exactly two nodes; use the bridge for {nodes}')
        if not 1 <= nodes <= 10:
            raise LabError(f'{nodes} nodes: the lab has 1 to 10 (addresses, keys and pid ranges)')
        self.kernel, self.initrd, self.logdir = kernel, initrd, logdir
        self.switch = Switch(range(1, nodes + 1)) if link == 'bridge' else None
        self.mem_mb, self.panic_on_oops, self.link, self.host_tsc = mem_mb, panic_on_oops, link, host_tsc
        os.makedirs(logdir, exist_ok=True)
        self.rundir = logdir
        self.nodes = [Node(self, n) for n in range(1, nodes + 1)]

    def node(self, n):
        return self.nodes[n - 1]

    def start(self, boot_timeout=None):
        # Nodes boot at once, sharing the host's cores: more nodes, longer.
        boot_timeout = boot_timeout or 60 + 30 * len(self.nodes)
        if self.switch:
            self.switch.up()
            for node in self.nodes:
                node.start(self.switch.netdev(node.n))
        elif self.link == 'datagram':
            # One UDP datagram per Ethernet frame, like a LAN: frames can be lost (TCP in the
            # nodes recovers), and each arrives by itself. Used by `make bench`: over the
            # stream link a reply of 2-3 frames (a 4 KiB page) waits ~44 ms in QEMU, which
            # would make every remote fault measure the lab rather than migr.
            p1, p2 = free_port(), free_port()
            self.node(2).start(f'socket,id=n,udp=127.0.0.1:{p1},localaddr=127.0.0.1:{p2}')
            self.node(1).start(f'socket,id=n,udp=127.0.0.1:{p2},localaddr=127.0.0.1:{p1}')
        else:
            port = free_port()
            # The listening side must listen before the connecting side starts: QEMU's
            # connect is non-blocking, and one refused leaves node 1 booted with a dead link
            # (seen under load after a fixed 0.3 s: "No route to host" between the nodes).
            self.node(2).start(f'socket,id=n,listen=127.0.0.1:{port}')
            wait_listening(port, time.time() + 30)
            self.node(1).start(f'socket,id=n,connect=127.0.0.1:{port}')
        deadline = time.time() + boot_timeout
        for node in self.nodes:
            node.connect(deadline)
        for node in self.nodes:
            node.wait_ready(deadline)

    def stop(self):
        for node in self.nodes:
            node.stop()
        if self.switch:
            self.switch.down()

    def cut_link(self, n):
        """Unplug node n from the switch (the node runs on, unreachable)."""
        if not self.switch:
            raise LabError(f'the {self.link} link cannot be cut per node')
        self.switch.cut(n)

    def restore_link(self, n):
        self.switch.restore(n)

    def mark(self):
        """A scenario begins: console_text() and splats() see only what comes from now on."""
        for node in self.nodes:
            node.since = node.console_size()

    def alive(self):
        return all(n.proc and n.proc.poll() is None and n.sock for n in self.nodes)

    def splats(self, before=None, since=None, allow_oom=False):
        """Splat lines on the consoles since the mark (since byte `since` if given; only those
        before the first line containing `before`, if given; a node that never printed it
        counts whole). With allow_oom, the OOM killer's reports (from "invoked oom-killer" to
        "Out of memory: Killed process", a stack dump among them) and the reports of
        allocations that failed meanwhile (from "page allocation failure" to the memory
        summary's "pages reserved": a network driver's atomic allocation, say) are not
        splats: a scenario that runs a node out of memory expects them."""
        found = []
        for node in self.nodes:
            end_of_report = None
            for line in node.console_text(since).splitlines():
                if before and before in line:
                    break
                if allow_oom and 'invoked oom-killer:' in line:
                    end_of_report = r'Out of memory( \(oom_kill_allocating_task\))?: Killed process'
                elif allow_oom and re.search(r'\] \S+: page allocation failure: ', line):
                    end_of_report = r'\] \d+ pages reserved$'
                if end_of_report:
                    if re.search(end_of_report, line):
                        end_of_report = None
                    continue
                if SPLAT.search(line):
                    found.append(f'{node.name}: {line.strip()}')
        return found
