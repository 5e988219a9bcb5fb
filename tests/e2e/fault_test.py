#!/usr/bin/env python3
"""Fault tests under load (issue #6): every role on its own "host" (network namespace),
traffic from triptych-loadgen, one fault per scenario, then the figures of docs/RESILIENCE.md.

Topology (tests/e2e/multihost_test.py's namespaces + veth links to one bridge):
scheduler, memory-0, prefill-0, prefill-1, decode-0, decode-1, decode-2, gateway, client.
Every scenario starts a fresh cluster (scheduler --disagg-threshold 32 so prompts go to the
prefill nodes, decode and prefill nodes use the memory node's KV history, memory --lease-ttl 5),
runs the load generator in the client namespace for --duration seconds and injects its fault
FAULT_AT seconds in:

  baseline        no fault
  kill-prefill    kill -9 prefill-0
  kill-decode     kill -9 decode-0 (its streams migrate to other decode nodes)
  kill-memory     kill -9 memory-0 (nodes fall back to computing; stores fail quietly)
  link-down       decode-1's link taken down for LINK_DOWN_S seconds, then back up
  restart-decode  kill -9 decode-2, started again RESTART_AFTER_S seconds later

Per scenario it reports: requests sent, completed, clean errors (an HTTP error status or an
error event in the stream: the client was told), unanswered (no response at all: timeout,
connection dropped, stream cut without an end; must be 0), recovery time (from the fault until
the first request sent after it completed), the scheduler's migrations and retries, and the KV
blocks still allocated after the load (decode pools, prefill pools, memory-node pins and leases
on every process still alive; must be 0).

Usage (root, for ip netns): python3 tests/e2e/fault_test.py [--duration 30] [--rate 4]
  [--scenarios a,b] [--write-doc]   (--write-doc replaces the results in docs/RESILIENCE.md)
Exit status 1 when any scenario has unanswered requests or leaked blocks.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep tests/e2e/__pycache__ out of the source tree
from e2e_checks import ROOT, SHARED, UNANSWERED_KINDS, metrics
from multihost_test import (BIN, Client, Deadline, Topology, die_with_parent, log, netns_list,
                            on_signal, sweep_stale, wait_http, wait_registered)

ROLES = ["scheduler", "memory-0", "prefill-0", "prefill-1", "decode-0", "decode-1", "decode-2",
         "gateway", "client"]
NODES = ["memory-0", "prefill-0", "prefill-1", "decode-0", "decode-1", "decode-2"]
SCENARIOS = ["baseline", "kill-prefill", "kill-decode", "kill-memory", "link-down",
             "restart-decode"]
FAULT_AT = 10.0
LINK_DOWN_S = 10.0
RESTART_AFTER_S = 3.0
SCHED_PORT, SCHED_ADMIN, NODE_PORT, NODE_ADMIN, GATEWAY_PORT = 50050, 9090, 50051, 9091, 8000
DOC = os.path.join(ROOT, "docs", "RESILIENCE.md")


class FaultCluster:
    """One fresh cluster in the namespaces; ports are offset per scenario (no TIME_WAIT waits)."""

    def __init__(self, topo, model, off, logdir):
        self.topo, self.model, self.off, self.logdir = topo, model, off, logdir
        self.procs = {}  # role -> Popen
        self.args = {}   # role -> argv, to restart it

    def url(self, role, port):
        return f"http://{self.topo.ip[role]}:{port + self.off}"

    def addr(self, role, port):
        return f"{self.topo.ip[role]}:{port + self.off}"

    def spawn(self, role, *args):
        self.args[role] = list(args)
        logf = open(os.path.join(self.logdir, f"{role}.{self.off}.log"), "a")
        self.procs[role] = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.ns[role], *args], stdout=logf,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        logf.close()

    def start(self, client):
        ip = self.topo.ip
        sched = self.addr("scheduler", SCHED_PORT)
        memory = self.addr("memory-0", NODE_PORT)
        self.spawn("scheduler", f"{BIN}/triptych-scheduler", "--host", ip["scheduler"],
                   "--port", str(SCHED_PORT + self.off), "--admin-port", str(SCHED_ADMIN + self.off),
                   "--policy", "kv_aware", "--disagg-threshold", "32", "--heartbeat-ms", "250",
                   "--node-timeout-ms", "1500", "--shutdown-grace-s", "1")
        client.run(wait_http, self.url("scheduler", SCHED_ADMIN) + "/health", 30, self)
        for role in NODES:
            kind = role.split("-")[0]
            common = ["--model", self.model, "--host", ip[role], "--port", str(NODE_PORT + self.off),
                      "--admin-port", str(NODE_ADMIN + self.off),
                      "--advertise", self.addr(role, NODE_PORT), "--node-id", role,
                      "--scheduler", sched, "--ucx-tls", "tcp,self", "--ucx-host", ip[role]]
            if kind == "memory":
                extra = ["--ram-blocks", "2048", "--lease-ttl", "5"]
            elif kind == "decode":
                extra = ["--threads", "1", "--kv-blocks", "512", "--memory", memory]
            else:
                extra = ["--threads", "1", "--memory", memory]
            self.spawn(role, f"{BIN}/triptych-{kind}", *common, *extra)
        for role in NODES:
            client.run(wait_http, self.url(role, NODE_ADMIN) + "/ready", 60, self)
        self.spawn("gateway", f"{BIN}/triptych-gateway", "--model", self.model,
                   "--host", ip["gateway"], "--port", str(GATEWAY_PORT + self.off),
                   "--scheduler", sched, "--memory-address", memory)
        client.run(wait_http, self.url("gateway", GATEWAY_PORT) + "/health", 60, self)
        client.run(wait_registered, self.url("scheduler", SCHED_ADMIN), len(NODES), 30, self)

    def kill(self, role):
        p = self.procs[role]
        # `ip netns exec` execs the binary: the Popen pid is the node itself.
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)

    def restart(self, role):
        self.spawn(role, *self.args[role])

    def alive(self, role):
        return role in self.procs and self.procs[role].poll() is None

    def check_alive(self):
        pass  # processes are killed on purpose here; readiness waits time out instead

    def stop(self):
        for role in reversed(list(self.procs)):
            p = self.procs[role]
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 15
        for role, p in self.procs.items():
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.procs = {}


def leaked_blocks(cluster):
    """KV blocks still held by every live node (0 when nothing leaked), with details."""
    details = {}
    for role in NODES:
        if not cluster.alive(role):
            continue
        try:
            m = metrics(cluster.url(role, NODE_ADMIN))
        except Exception as e:  # unreachable (e.g. its link is down): cannot vouch for it
            details[role] = f"unreachable: {e}"
            continue
        if role.startswith("decode"):
            n = m.get("triptych_kv_blocks_used", 0)
        elif role.startswith("prefill"):
            n = m.get("triptych_kv_blocks_total", 0) - m.get("triptych_kv_blocks_free", 0)
        else:
            n = m.get("triptych_memory_history_pinned_blocks", 0) + m.get(
                "triptych_memory_leases_open", 0)
        details[role] = int(n)
    total = sum(v for v in details.values() if isinstance(v, int))
    unreachable = [r for r, v in details.items() if not isinstance(v, int)]
    return total, unreachable, details


def wait_no_leaks(client, cluster, timeout_s):
    end = time.monotonic() + timeout_s
    while True:
        total, unreachable, details = client.run(leaked_blocks, cluster)
        if (total == 0 and not unreachable) or time.monotonic() > end:
            return total, unreachable, details
        time.sleep(0.5)  # nodes free blocks as cancellations and lease expiries land


def run_scenario(topo, client, name, model, off, logdir, args):
    cluster = FaultCluster(topo, model, off, logdir)
    row = {"scenario": name}
    out = os.path.join(logdir, f"{name}.json")
    try:
        cluster.start(client)
        load = subprocess.Popen(
            ["ip", "netns", "exec", topo.ns["client"], f"{BIN}/triptych-loadgen",
             "--url", cluster.url("gateway", GATEWAY_PORT), "--api", "completions",
             "--model", os.path.splitext(os.path.basename(model))[0],
             "--dataset", "random", "--random-input-len", str(args.input_len), "--random-output-len", str(args.output_len),
             "--ignore-eos", "--tokenizer", model, "--request-rate", str(args.rate),
             "--duration", str(args.duration), "--grace", "60", "--request-timeout", "90",
             "--seed", "7", "--save-detailed", "--no-progress", "--result-json", out],
            stdout=open(os.path.join(logdir, f"{name}.loadgen.log"), "w"),
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        t0 = time.monotonic()
        fault_at = None
        if name != "baseline":
            time.sleep(max(0.0, FAULT_AT - (time.monotonic() - t0)))
            fault_at = time.monotonic() - t0
            log(f"{name}: fault at {fault_at:.1f}s")
            if name == "kill-prefill":
                cluster.kill("prefill-0")
            elif name == "kill-decode":
                cluster.kill("decode-0")
            elif name == "kill-memory":
                cluster.kill("memory-0")
            elif name == "link-down":
                topo.set_link("decode-1", False)
                time.sleep(LINK_DOWN_S)
                topo.set_link("decode-1", True)
            elif name == "restart-decode":
                cluster.kill("decode-2")
                time.sleep(RESTART_AFTER_S)
                cluster.restart("decode-2")
                client.run(wait_http, cluster.url("decode-2", NODE_ADMIN) + "/ready", 60, cluster)
                row["node_back_s"] = round(time.monotonic() - t0 - fault_at, 1)
        load.wait(timeout=args.duration + 200)
        result = json.load(open(out))
        errors = result.get("errors", [])
        starts = result.get("start_times", [])
        e2els = result.get("e2els", [])
        kinds = [e.split(":", 1)[0] for e in errors if e]
        unanswered = sum(1 for k in kinds if k in UNANSWERED_KINDS)
        row["p50_e2e_s"] = round(result.get("median_e2el_ms", 0) / 1000.0, 2)
        row.update(sent=len(errors), completed=result.get("completed", 0),
                   clean_errors=len(kinds) - unanswered, unanswered=unanswered,
                   error_kinds=sorted(set(kinds)))
        if fault_at is not None:
            done_after = [s + e - fault_at for s, e, err in zip(starts, e2els, errors)
                          if not err and s >= fault_at]
            row["recovery_s"] = round(min(done_after), 2) if done_after else None
        sm = client.run(metrics, cluster.url("scheduler", SCHED_ADMIN))
        row["migrations"] = int(sm.get("triptych_scheduler_migrations_total", 0))
        row["retries"] = int(sm.get("triptych_scheduler_retries_total", 0))
        total, unreachable, details = wait_no_leaks(client, cluster, 20)
        row["leaked_blocks"] = total
        row["unreachable"] = unreachable
        row["per_node"] = details
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {e}"
    finally:
        cluster.stop()
    log(json.dumps(row))
    return row


def table(rows, args, model):
    lines = [
        f"Command: `sudo python3 tests/e2e/fault_test.py --duration {args.duration:g} "
        f"--rate {args.rate:g} --input-len {args.input_len} --output-len {args.output_len} "
        f"--write-doc` (model `{os.path.basename(model)}`, "
        f"{time.strftime('%Y-%m-%d')}, 2-core machine; every role in its own network namespace, "
        "UCX over tcp across veth links; "
        f"random prompts of {args.input_len} tokens, {args.output_len} output tokens, "
        f"Poisson arrivals, fault {FAULT_AT:g} s in).",
        "",
        "| scenario | sent | completed | clean errors | unanswered | recovery (s) | p50 E2E (s) | "
        "migrations | retries | leaked KV blocks |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['scenario']} | harness error: {r['error']} ||||||||| ")
            continue
        rec = "-" if r.get("recovery_s") is None else f"{r['recovery_s']:.2f}"
        if r["scenario"] == "restart-decode" and "node_back_s" in r:
            rec += f" (node back {r['node_back_s']:.1f})"
        leak = str(r["leaked_blocks"]) + (f" ({', '.join(r['unreachable'])} unreachable)"
                                          if r["unreachable"] else "")
        errs = r["clean_errors"]
        if r["error_kinds"]:
            errs = f"{errs} ({', '.join(r['error_kinds'])})"
        lines.append(f"| {r['scenario']} | {r['sent']} | {r['completed']} | {errs} | "
                     f"{r['unanswered']} | {rec} | {r['p50_e2e_s']:.2f} | {r['migrations']} | {r['retries']} | "
                     f"{leak} |")
    return "\n".join(lines)


def write_doc(text):
    doc = open(DOC).read()
    begin, end = "<!-- faults:begin -->", "<!-- faults:end -->"
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), begin + "\n" + text + "\n" + end, doc,
                 flags=re.S)
    open(DOC, "w").write(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--rate", type=float, default=4)
    ap.add_argument("--input-len", type=int, default=256)
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--model", default="",
                    help="GGUF to serve (default: a generated 8-layer dim-512 F16 model with "
                         "context 2048, so requests stay in flight long enough to be hit)")
    args = ap.parse_args()
    model = args.model
    if not model:
        model = os.path.join(tempfile.gettempdir(), "triptych-faults-model.gguf")
        if not os.path.exists(model):
            subprocess.run([f"{BIN}/triptych-gen-model", "--out", model, "--dim", "512",
                            "--layers", "8", "--heads", "8", "--kv-heads", "4", "--ffn", "1536",
                            "--vocab", "4096", "--ctx", "2048", "--type", "F16"], check=True,
                           capture_output=True)
    model = os.path.realpath(model)
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("FAIL: needs root and iproute2 (ip netns)")
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sweep_stale()
    topo = Topology(ROLES)
    client = None
    rows = []
    logdir = tempfile.mkdtemp(prefix="triptych-faults-")
    try:
        topo.create()
        client = Client(topo.ns["client"])
        for i, name in enumerate(args.scenarios.split(",")):
            rows.append(run_scenario(topo, client, name, model, i * 100, logdir, args))
    except Deadline as e:
        rows.append({"scenario": "-", "error": f"stopped by {e}"})
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if client:
            client.close()
        topo.remove()
        left = [ns for ns in netns_list() if ns.startswith(topo.tag)]
        if left:
            print(f"FAIL: namespaces left behind: {left}")
    text = table(rows, args, model)
    print(text)
    print(f"logs: {logdir}")
    if args.write_doc:
        write_doc(text)
    bad = [r for r in rows if "error" in r or r.get("unanswered") or r.get("leaked_blocks")
           or r.get("unreachable")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
