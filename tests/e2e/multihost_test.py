#!/usr/bin/env python3
"""Multi-host end-to-end test: every role in its own network namespace (issue #6).

Makes a private network of Linux network namespaces, one per role, so that each
process sees only its own loopback and one veth link, as on separate hosts:

    scheduler  prefill-0  decode-0  decode-1  gateway  client     (one netns each)
      eth0       eth0       eth0      eth0      eth0     eth0     10.A.B.{10..15}/24
       |          |          |         |         |        |
       +----------+------ br0 (bridge in the "hub" netns) -+

Each role runs with `ip netns exec NS <binary> --host <its ip>`; the nodes
advertise <their ip>:<port> and run UCX with --ucx-tls tcp,self --ucx-host
<their ip>, so the KV blocks go over TCP across the veth links (no shared
memory lanes). The test's HTTP requests come from the client namespace (a
worker thread that setns()es into it), never from the root namespace; nothing
is added to the root namespace at all. The conformance checks of
cluster_test.py (e2e_checks.py) then run once disaggregated (scheduler
--disagg-threshold 0) and once colocated (--disagg-threshold 1000000) for
stories260K.gguf and stories260K-F16.gguf, and the veth counters must show the
KV bytes leaving the prefill namespace and arriving in the decode namespaces.

Everything it makes (processes, namespaces, links) is removed in a finally
block, also on failure, SIGTERM/SIGINT or its own deadline; processes also get
PR_SET_PDEATHSIG so they die with the test. Namespaces left by a test that
was SIGKILLed are removed by the next run (their names carry the creator pid).

Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2. Without them it fails
under CI=true; elsewhere it prints SKIP and exits 77, which CTest reports as
skipped (SKIP_RETURN_CODE), never as passed.
Needs ../shared/conformance (skips locally without it, fails under CI=true).
Binaries come from $TRIPTYCH_BIN (default build/bin).
"""
import concurrent.futures
import ctypes
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # keep tests/e2e/__pycache__ out of the source tree
from e2e_checks import ROOT, SHARED, check_cluster, metrics, reference_lines

BIN = os.environ.get("TRIPTYCH_BIN", os.path.join(ROOT, "build", "bin"))
MODEL_FILES = ("stories260K.gguf", "stories260K-F16.gguf")
ROLES = ["scheduler", "prefill-0", "decode-0", "decode-1", "gateway", "client"]
NS_PREFIX = "tmh"  # triptych multi-host; names are tmh-<creator pid>-<hex>-<role>
DEADLINE_S = 540  # whole test; CTest's TIMEOUT (600) is above it so cleanup still runs
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

# Every role has its own address, so fixed ports cannot collide with anything
# outside the namespaces (the servers-bind-port-0 rule is about shared hosts).
# Each mode gets its own port set so a restart never waits on TIME_WAIT.
SCHED_PORT, SCHED_ADMIN, NODE_PORT, NODE_ADMIN, GATEWAY_PORT = 50050, 9090, 50051, 9091, 8000

_libc = ctypes.CDLL(None, use_errno=True)


class Deadline(BaseException):
    """SIGTERM, SIGINT or the test's own deadline; a BaseException so no handler swallows it."""


def log(msg):
    print(f"[multihost {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args, check=True, timeout=20):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: rc {r.returncode}: {r.stderr.strip()}")
    return r


def die_with_parent():
    # Runs in the child between fork and exec; `ip netns exec` then execs the
    # binary, which keeps the death signal.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def enter_netns(name):
    """Moves the calling thread (only it) into network namespace `name`."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def netns_list():
    r = sh("ip", "netns", "list", check=False)
    return [l.split()[0] for l in r.stdout.splitlines() if l.strip()]


def kill_netns_pids(ns):
    r = sh("ip", "netns", "pids", ns, check=False)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def sweep_stale():
    """Deletes tmh-* namespaces whose creating test process is gone (a SIGKILLed run)."""
    for ns in netns_list():
        m = re.match(rf"^{NS_PREFIX}-(\d+)-[0-9a-f]+-", ns)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            log(f"removing stale namespace {ns}")
            kill_netns_pids(ns)
            sh("ip", "netns", "del", ns, check=False)


class Topology:
    """The namespaces, bridge and veth links of one test run; remove() undoes all of it."""

    def __init__(self, roles=None):
        self.roles = list(roles or ROLES)
        self.tag = f"{NS_PREFIX}-{os.getpid()}-{random.getrandbits(16):04x}"
        self.hub = f"{self.tag}-hub"
        self.ns = {role: f"{self.tag}-{role}" for role in self.roles}
        self.subnet = f"10.{random.randint(100, 254)}.{random.randint(0, 254)}"
        self.ip = {role: f"{self.subnet}.{10 + i}" for i, role in enumerate(self.roles)}
        self.made = []  # namespaces created so far, removed in reverse order

    def create(self):
        sh("ip", "netns", "add", self.hub)
        self.made.append(self.hub)
        sh("ip", "-n", self.hub, "link", "set", "lo", "up")
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, role in enumerate(self.roles):
            ns = self.ns[role]
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # Both ends are created inside their namespaces: no name in the
            # root namespace, so parallel runs cannot clash.
            sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth",
               "peer", "name", f"v{i}", "netns", self.hub)
            sh("ip", "-n", self.hub, "link", "set", f"v{i}", "master", "br0")
            sh("ip", "-n", self.hub, "link", "set", f"v{i}", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip[role]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def set_link(self, role, up):
        """Takes the role's link to the bridge down (its host is cut off) or back up."""
        i = self.roles.index(role)
        sh("ip", "-n", self.hub, "link", "set", f"v{i}", "up" if up else "down")

    def veth_bytes(self, role):
        """(rx, tx) bytes of the role's eth0."""
        r = sh("ip", "-j", "-s", "-n", self.ns[role], "link", "show", "dev", "eth0")
        st = json.loads(r.stdout)[0]["stats64"]
        return st["rx"]["bytes"], st["tx"]["bytes"]

    def remove(self):
        # Deleting a namespace destroys the veth ends inside it (and so their peers).
        for ns in reversed(self.made):
            kill_netns_pids(ns)
            sh("ip", "netns", "del", ns, check=False)
        self.made = []


class Cluster:
    """The five role processes of one mode, each in its namespace."""

    def __init__(self, topo, model, disagg_threshold, port_offset, logdir):
        self.topo, self.model, self.threshold = topo, model, disagg_threshold
        self.off, self.logdir = port_offset, logdir
        self.procs = []  # (role, Popen), in start order

    def url(self, role, port):
        return f"http://{self.topo.ip[role]}:{port + self.off}"

    def spawn(self, role, *args):
        logf = open(os.path.join(self.logdir, f"{role}.{self.off}.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.topo.ns[role], *args],
                             stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             preexec_fn=die_with_parent)
        logf.close()
        self.procs.append((role, p))

    def start(self, client):
        ip, o = self.topo.ip, self.off
        sched = f"{ip['scheduler']}:{SCHED_PORT + o}"
        self.spawn("scheduler", f"{BIN}/triptych-scheduler", "--host", ip["scheduler"],
                   "--port", str(SCHED_PORT + o), "--admin-port", str(SCHED_ADMIN + o),
                   "--policy", "kv_aware", "--disagg-threshold", str(self.threshold),
                   "--shutdown-grace-s", "1")
        client.run(wait_http, self.url("scheduler", SCHED_ADMIN) + "/health", 30, self)
        for role in ("prefill-0", "decode-0", "decode-1"):
            kind = role.split("-")[0]
            extra = ["--kv-blocks", "1024"] if kind == "decode" else []
            self.spawn(role, f"{BIN}/triptych-{kind}", "--model", self.model,
                       "--host", ip[role], "--port", str(NODE_PORT + o),
                       "--admin-port", str(NODE_ADMIN + o),
                       "--advertise", f"{ip[role]}:{NODE_PORT + o}", "--node-id", role,
                       "--scheduler", sched, "--threads", "1",
                       "--ucx-tls", "tcp,self", "--ucx-host", ip[role], *extra)
        for role in ("prefill-0", "decode-0", "decode-1"):
            client.run(wait_http, self.url(role, NODE_ADMIN) + "/ready", 60, self)
        self.spawn("gateway", f"{BIN}/triptych-gateway", "--model", self.model,
                   "--host", ip["gateway"], "--port", str(GATEWAY_PORT + o), "--scheduler", sched)
        client.run(wait_http, self.url("gateway", GATEWAY_PORT) + "/health", 60, self)
        client.run(wait_registered, self.url("scheduler", SCHED_ADMIN), 3, 30, self)

    def check_alive(self):
        for role, p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{role} exited with {p.returncode}")

    def stop(self):
        # Gateway first, scheduler last: requests drain from the edge inwards.
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 15
        for role, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{role} did not stop on SIGTERM; killing it")
                p.kill()
                p.wait(timeout=10)
        self.procs = []

    def log_tails(self):
        out = []
        for name in sorted(n for n in os.listdir(self.logdir) if n.endswith(f".{self.off}.log")):
            text = open(os.path.join(self.logdir, name), errors="replace").read()
            out.append(f"--- {name} (last 1500 chars)\n{text[-1500:]}")
        return "\n".join(out)


def wait_http(url, timeout_s, cluster):
    end = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception as e:  # connection refused / 503 until ready
            last = e
        cluster.check_alive()
        if time.monotonic() > end:
            raise RuntimeError(f"{url} not ready after {timeout_s}s: {last}")
        time.sleep(0.2)  # polling a readiness endpoint, not synchronising on time


def wait_registered(sched_admin_url, want, timeout_s, cluster):
    end = time.monotonic() + timeout_s
    while True:
        m = metrics(sched_admin_url)
        healthy = sum(v for k, v in m.items()
                      if k.startswith("triptych_scheduler_nodes{") and 'state="healthy"' in k)
        if healthy >= want:
            return
        cluster.check_alive()
        if time.monotonic() > end:
            raise RuntimeError(f"{healthy}/{want} nodes registered after {timeout_s}s")
        time.sleep(0.2)


class Client:
    """Runs calls on one thread that lives in the client namespace."""

    def __init__(self, ns):
        self.pool = concurrent.futures.ThreadPoolExecutor(1, initializer=enter_netns,
                                                          initargs=(ns,))

    def run(self, fn, *args, timeout=300):
        return self.pool.submit(fn, *args).result(timeout=timeout)

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)


def run_mode(topo, client, model_file, lines, disaggregated, port_offset, logdir):
    label = f"{model_file} multihost"
    model = os.path.realpath(os.path.join(SHARED, "models", model_file))
    cluster = Cluster(topo, model, 0 if disaggregated else 1000000, port_offset, logdir)
    t0 = time.monotonic()
    try:
        cluster.start(client)
        t_ready = time.monotonic() - t0
        before = {r: topo.veth_bytes(r) for r in ("prefill-0", "decode-0", "decode-1")}
        t1 = time.monotonic()
        failures, stats = client.run(
            check_cluster, label, cluster.url("gateway", GATEWAY_PORT),
            cluster.url("prefill-0", NODE_ADMIN),
            [cluster.url("decode-0", NODE_ADMIN), cluster.url("decode-1", NODE_ADMIN)],
            lines, disaggregated)
        t_check = time.monotonic() - t1
        after = {r: topo.veth_bytes(r) for r in before}
        prefill_tx = after["prefill-0"][1] - before["prefill-0"][1]
        decode_rx = sum(after[r][0] - before[r][0] for r in ("decode-0", "decode-1"))
        log(f"{model_file} disaggregated={disaggregated}: {len(lines)} prompts, cluster ready in "
            f"{t_ready:.1f}s, checks {t_check:.1f}s; veth bytes prefill-0 tx {prefill_tx}, "
            f"decode-0+1 rx {decode_rx}")
        if disaggregated and not (prefill_tx >= stats["kv_sent"] and
                                  decode_rx >= stats["kv_received"]):
            failures.append(f"veth counters (prefill tx {prefill_tx}, decode rx {decode_rx}) "
                            f"below the KV bytes moved ({stats['kv_sent']:.0f}): KV did not "
                            "cross the links")
        cluster.check_alive()
    except Exception as e:
        failures = [f"{label} disaggregated={disaggregated}: {type(e).__name__}: {e}"]
    finally:
        cluster.stop()
    if failures:
        print(cluster.log_tails(), flush=True)
    return failures


SKIP_EXIT = 77  # tests/CMakeLists.txt: SKIP_RETURN_CODE


def skip_or_fail(reason):
    if os.environ.get("CI") == "true":
        print(f"FAIL: {reason} (this test must run when CI=true)")
        return 1
    print(f"SKIP: {reason}")
    return SKIP_EXIT


def on_signal(signum, _frame):
    raise Deadline(f"signal {signum}")


def main():
    if not os.path.isdir(SHARED):
        if os.environ.get("CI") == "true":
            print("FAIL: ../shared/conformance is missing (required when CI=true)")
            return 1
        print("SKIP: ../shared/conformance not found")
        return SKIP_EXIT
    if os.geteuid() != 0:
        return skip_or_fail("needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) for ip netns")
    if shutil.which("ip") is None:
        return skip_or_fail("iproute2 (ip) not installed")
    for b in ("triptych-scheduler", "triptych-prefill", "triptych-decode", "triptych-gateway"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            print(f"FAIL: {BIN}/{b} missing")
            return 1

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(DEADLINE_S)
    t0 = time.monotonic()
    sweep_stale()
    topo = Topology()
    client = None
    failures = []
    logdir = tempfile.mkdtemp(prefix="triptych-multihost-")
    try:
        try:
            topo.create()
        except RuntimeError as e:
            if not topo.made:  # the very first `ip netns add` was refused
                return skip_or_fail(f"ip netns not permitted here: {e}")
            raise
        log(f"topology {topo.tag}: {len(topo.made)} namespaces, subnet {topo.subnet}.0/24, "
            f"made in {time.monotonic() - t0:.1f}s")
        client = Client(topo.ns["client"])
        runs = [(m, d) for m in MODEL_FILES for d in (True, False)]
        for i, (model_file, disagg) in enumerate(runs):
            failures += run_mode(topo, client, model_file, reference_lines(model_file), disagg,
                                 i * 100, logdir)
    except Deadline as e:
        failures.append(f"stopped by {e} (deadline {DEADLINE_S}s)")
    except Exception as e:
        failures.append(f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        # A second signal must not interrupt the cleanup.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if client:
            client.close()
        topo.remove()
        left = [ns for ns in netns_list() if ns.startswith(topo.tag)]
        if left:
            failures.append(f"namespaces left behind: {left}")
        shutil.rmtree(logdir, ignore_errors=True)
        log(f"torn down; total {time.monotonic() - t0:.1f}s")
    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
