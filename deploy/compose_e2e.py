#!/usr/bin/env python3
"""The compose cluster, end to end, on a real Docker engine (issue 14).

Run through deploy/compose-e2e.sh (root, or a user that may use the engine):

 1. starts dockerd when no engine answers (and stops only what it started);
 2. makes debian:bookworm(-slim) with deploy/docker/base-images.sh when the
    engine has no registry to pull them from;
 3. builds the image from this host's build/bin (deploy/docker/local-image.sh;
    --dockerfile builds deploy/docker/Dockerfile instead, compiling inside the
    image) unless --image names one to reuse;
 4. `docker-compose up -d` of the real deploy/compose/docker-compose.yml, with
    an override that only publishes the nodes' admin ports on 127.0.0.1, and
    TRIPTYCH_MEMLOCK set to this host's hard limit when `memlock: -1` would be
    refused; waits until every container's health check passes;
 5. sends every stories260K reference prompt through the gateway (greedy,
    48 tokens, byte for byte; every prompt disaggregated, KV over UCX/tcp
    between containers) and reads /metrics of every service;
 6. runs triptych-loadgen for 30 s at 4 requests/s and `docker kill`s a decode
    container 10 s in: no request may go unanswered;
 7. starts that container again, waits for its health check and sees it
    serve requests;
 8. `docker-compose down -v`: no container, network or volume of the run is
    left.

Traffic stays on loopback (the gateway and admin ports are published on
127.0.0.1 only) and on the compose project's own bridge network. Exit status
0 pass, 1 fail, 77 skipped (no engine or no ../shared outside CI; under
CI=true those fail).
"""
import argparse
import concurrent.futures
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from e2e_checks import (SHARED, UNANSWERED_KINDS, check_cluster, complete, metrics,  # noqa: E402
                        model_id, reference_lines)

COMPOSE_FILE = os.path.join(ROOT, "deploy", "compose", "docker-compose.yml")
MODEL_FILE = "stories260K.gguf"
# service -> admin port inside its container (deploy/compose conventions).
ADMIN = {"scheduler": 9090, "prefill-0": 9091, "decode-0": 9092, "decode-1": 9092,
         "memory-0": 9093}
SERVICES = ["scheduler", "memory-0", "prefill-0", "decode-0", "decode-1", "gateway"]
CI = os.environ.get("CI") == "true"


def log(msg):
    print(f"compose-e2e: {msg}", flush=True)


def run(cmd, timeout=600, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): "
                           f"{(r.stderr or r.stdout)[-3000:]}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_up():
    return run(["docker", "info"], timeout=30, check=False).returncode == 0


class Engine:
    """dockerd if none answers; stop() stops only a daemon this run started."""

    def __init__(self, workdir):
        self.proc = None
        self.workdir = workdir

    def ensure(self):
        if engine_up():
            return
        if shutil.which("dockerd") is None:
            raise RuntimeError("no Docker engine answers and dockerd is not installed "
                               "(bash scripts/setup.sh installs docker.io)")
        log("starting dockerd")
        out = open(os.path.join(self.workdir, "dockerd.log"), "w")
        self.proc = subprocess.Popen(["dockerd", "--host", "unix:///var/run/docker.sock"],
                                     stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not engine_up():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dockerd did not start: " +
                                   open(out.name).read()[-2000:])
            time.sleep(1)

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        log("stopped the dockerd this run started")


def memlock_setting():
    """-1 when the hard limit allows it, else the hard limit in bytes."""
    hard = run(["bash", "-c", "ulimit -Hl"]).stdout.strip()
    return "-1" if hard == "unlimited" else str(int(hard) * 1024)


class Cluster:
    def __init__(self, project, env, override):
        self.project = project
        self.env = env
        self.files = ["-f", COMPOSE_FILE, "-f", override]

    def compose(self, *args, timeout=300, check=True):
        return run(["docker-compose", "-p", self.project, *self.files, *args], timeout=timeout,
                   check=check, env=self.env)

    def container(self, service):
        ids = self.compose("ps", "-q", service).stdout.split()
        if not ids:
            raise RuntimeError(f"no container for {service}")
        return ids[0]

    def health(self, service):
        r = run(["docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}",
                 self.container(service)], check=False)
        return r.stdout.strip()

    def wait_healthy(self, services, timeout):
        deadline = time.monotonic() + timeout
        while True:
            states = {s: self.health(s) for s in services}
            if all(v == "running healthy" for v in states.values()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy after {timeout} s: {states}")
            time.sleep(2)

    def admin_url(self, service):
        port = self.compose("port", service, str(ADMIN[service])).stdout.strip()
        return "http://127.0.0.1:" + port.rsplit(":", 1)[1]

    def logs(self):
        return self.compose("logs", "--no-color", "--tail", "40", timeout=60, check=False).stdout

    def leftovers(self):
        label = f"label=com.docker.compose.project={self.project}"
        out = []
        for kind in (["ps", "-a", "-q"], ["network", "ls", "-q"], ["volume", "ls", "-q"]):
            r = run(["docker", *kind, "--filter", label], check=False)
            out += [f"{kind[0]} {x}" for x in r.stdout.split()]
        return out


def write_override(path):
    """Publishes every node's admin port on 127.0.0.1 (ephemeral host ports)."""
    with open(path, "w") as f:
        f.write("# compose-e2e: admin ports of the nodes on loopback, for /metrics.\n")
        f.write("services:\n")
        for service, port in ADMIN.items():
            if service == "scheduler":
                continue  # published by the compose file itself
            f.write(f"  {service}:\n    ports:\n      - \"127.0.0.1::{port}\"\n")


def served_tokens(url):
    return metrics(url).get("triptych_decode_tokens_computed_total", 0)


def load_with_kill(cluster, gateway, model, workdir, args):
    """Loadgen for args.duration s; decode-1 killed args.kill_at s in.

    48 + 64 tokens: stories260K has a 128-token context.
    """
    out = os.path.join(workdir, "loadgen.json")
    load = subprocess.Popen(
        [os.path.join(args.bin, "triptych-loadgen"), "--url", gateway, "--api", "completions",
         "--model", model_id(gateway), "--dataset", "random",
         "--random-input-len", "48", "--random-output-len", "64", "--ignore-eos",
         "--tokenizer", model, "--request-rate", str(args.rate), "--duration",
         str(args.duration), "--grace", "60", "--request-timeout", "90", "--seed", "11",
         "--save-detailed", "--no-progress", "--result-json", out],
        stdout=open(os.path.join(workdir, "loadgen.log"), "w"), stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    time.sleep(args.kill_at)
    victim = cluster.container("decode-1")
    run(["docker", "kill", victim])
    log(f"killed decode-1 ({victim[:12]}) {time.monotonic() - t0:.1f} s into the load")
    load.wait(timeout=args.duration + 200)
    result = json.load(open(out))
    kinds = [e.split(":", 1)[0] for e in result.get("errors", []) if e]
    unanswered = sum(1 for k in kinds if k in UNANSWERED_KINDS)
    sent = len(result.get("errors", []))
    log(f"load: {sent} sent, {result.get('completed', 0)} completed, "
        f"{len(kinds) - unanswered} clean errors {sorted(set(kinds))}, {unanswered} unanswered")
    for e in sorted({e for e in result.get("errors", []) if e})[:3]:
        log(f"load error: {e[:300]}")
    return sent, result.get("completed", 0), unanswered


def serves_again(cluster, gateway, lines):
    """decode-1 started again: healthy, back in the scheduler, and computing tokens."""
    run(["docker", "start", cluster.container("decode-1")])
    t0 = time.monotonic()
    cluster.wait_healthy(["decode-1"], 120)
    log(f"decode-1 healthy again after {time.monotonic() - t0:.1f} s")
    # Its own /ready is not the scheduler's view: wait until both decode
    # nodes are healthy there, so routing can pick the restarted one.
    sched = cluster.admin_url("scheduler")
    healthy = 'triptych_scheduler_nodes{role="decode",state="healthy"}'
    deadline = time.monotonic() + 60
    while metrics(sched).get(healthy, 0) < 2:
        if time.monotonic() > deadline:
            return [f"the scheduler does not see decode-1 healthy again: "
                    f"{ {k: v for k, v in metrics(sched).items() if 'scheduler_nodes' in k} }"]
        time.sleep(1)
    log(f"scheduler sees both decode nodes healthy {time.monotonic() - t0:.1f} s after the start")
    url = cluster.admin_url("decode-1")  # a new host port after the restart
    prompts = [l["prompt"] for l in lines]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        results = list(pool.map(lambda p: complete(gateway, p), prompts))
    bad = [(l["prompt"], t) for l, (t, _) in zip(lines, results) if l["prompt"] + t != l["output"]]
    if bad:
        return [f"after the restart: wrong continuation {bad[0]}"]
    # Prompts no node holds a prefix of (the new text comes first) tie on the
    # router's score, and tied nodes take turns: the restarted node gets
    # work in the first round.
    for attempt in range(4):
        tokens = served_tokens(url)
        if tokens > 0:
            log(f"decode-1 serves again: {tokens:.0f} tokens computed (round {attempt + 1})")
            return []
        fresh = [f"Round {attempt}, story {i}. {p}" for i, p in enumerate(prompts)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(fresh)) as pool:
            list(pool.map(lambda p: complete(gateway, p), fresh))
    counters = {k: v for k, v in metrics(url).items() if "tokens" in k or "requests" in k}
    routes = {k: v for k, v in metrics(sched).items()
              if "route_decisions" in k or "scheduler_nodes" in k}
    # Seen in 3 of 5 runs on one day: the scheduler had one decode node dead
    # after both were healthy. What the nodes logged (routing and successful
    # requests left out) is what the next look needs.
    for service in ("scheduler", "prefill-0", "decode-1"):
        r = run(["docker", "logs", "--timestamps", cluster.container(service)], check=False)
        lines = [l for l in (r.stdout + r.stderr).splitlines()
                 if '"msg":"routed"' not in l and '"error":"",' not in l]
        for line in lines[-40:]:
            log(f"{service} log: {line[:400]}")
    return [f"decode-1 computed no tokens after its restart: {counters}; scheduler: {routes}"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="", help="reuse this image (no build)")
    ap.add_argument("--dockerfile", action="store_true",
                    help="build deploy/docker/Dockerfile (compiles in the image) instead of "
                         "packaging build/bin")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--rate", type=float, default=4)
    ap.add_argument("--kill-at", type=float, default=10)
    args = ap.parse_args()

    def skip(why):
        if CI:
            print(f"FAIL: {why} (required under CI=true)")
            return 1
        print(f"SKIP: {why}")
        return 77

    model_src = os.path.join(SHARED, "models", MODEL_FILE)
    if not os.path.exists(model_src):
        return skip(f"{model_src} missing")
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        return skip("docker / docker-compose not installed (bash scripts/setup.sh)")
    if not engine_up() and os.geteuid() != 0:
        return skip("no Docker engine answers and starting dockerd needs root")
    for b in ("triptych-loadgen",):
        if not os.access(os.path.join(args.bin, b), os.X_OK):
            return skip(f"{args.bin}/{b} not built (bash scripts/build.sh)")

    workdir = tempfile.mkdtemp(prefix="triptych-compose-e2e-")
    engine = Engine(workdir)
    cluster = None
    failures = []
    timings = {}
    t_all = time.monotonic()
    try:
        t = time.monotonic()
        engine.ensure()
        run(["bash", os.path.join(HERE, "docker", "base-images.sh")], timeout=900)
        timings["engine + base images"] = time.monotonic() - t

        t = time.monotonic()
        image = args.image
        if image:
            run(["docker", "image", "inspect", image])
            log(f"reusing image {image}")
        elif args.dockerfile:
            image = "triptych:cpu"
            r = run(["docker", "build", "-f", os.path.join(HERE, "docker", "Dockerfile"), "-t",
                     image, ROOT], timeout=3600, check=False)
            if r.returncode != 0:
                raise RuntimeError("docker build failed: " + (r.stdout + r.stderr)[-3000:])
        else:
            image = "triptych:e2e"
            log(run(["bash", os.path.join(HERE, "docker", "local-image.sh"),
                     os.path.dirname(args.bin), image], timeout=900).stdout.strip())
        timings["image"] = time.monotonic() - t

        models = os.path.join(workdir, "models")
        os.makedirs(models)
        shutil.copy(model_src, os.path.join(models, "model.gguf"))
        os.chmod(workdir, 0o755)  # the nodes run as UID 10001
        os.chmod(models, 0o755)
        os.chmod(os.path.join(models, "model.gguf"), 0o644)
        override = os.path.join(workdir, "e2e.override.yml")
        write_override(override)
        gateway_port = free_port()
        env = dict(os.environ,
                   TRIPTYCH_CLUSTER_TOKEN=secrets.token_hex(16), TRIPTYCH_IMAGE=image,
                   TRIPTYCH_MODELS_DIR=models, TRIPTYCH_GATEWAY_BIND="127.0.0.1",
                   TRIPTYCH_GATEWAY_PORT=str(gateway_port),
                   TRIPTYCH_SCHEDULER_ADMIN_PORT=str(free_port()),
                   TRIPTYCH_MEMLOCK=memlock_setting(), TRIPTYCH_DISAGG_THRESHOLD="0",
                   TRIPTYCH_THREADS="1",
                   # 2048 stories260K blocks: a KV pool above an 8 MiB memlock limit.
                   TRIPTYCH_KV_BLOCKS="2048")
        log(f"memlock setting {env['TRIPTYCH_MEMLOCK']}; gateway 127.0.0.1:{gateway_port}")
        cluster = Cluster(f"triptych-e2e-{os.getpid()}", env, override)

        t = time.monotonic()
        cluster.compose("up", "-d", timeout=300)
        cluster.wait_healthy(SERVICES, 240)
        timings["up + healthy"] = time.monotonic() - t
        log(f"all {len(SERVICES)} services healthy in {timings['up + healthy']:.1f} s")
        warned = [l for l in cluster.compose("logs", "--no-color", "decode-0").stdout.splitlines()
                  if "locked-memory limit" in l]
        log("decode-0 under the memlock limit: " + (warned[0].split("|", 1)[-1].strip() if warned
                                                    else "no warning (pool within the limit)"))

        t = time.monotonic()
        gateway = f"http://127.0.0.1:{gateway_port}"
        lines = reference_lines(MODEL_FILE)
        if not lines:
            raise RuntimeError(f"no reference lines for {MODEL_FILE}")
        more, stats = check_cluster("compose", gateway, cluster.admin_url("prefill-0"),
                                    [cluster.admin_url("decode-0"),
                                     cluster.admin_url("decode-1")], lines, True)
        failures += more
        log(f"{len(lines)} reference lines: " +
            ("all exact, KV checks pass" if not more else f"{len(more)} failures"))
        for service in SERVICES:
            url = gateway if service == "gateway" else cluster.admin_url(service)
            series = metrics(url)
            ours = [k for k in series if k.startswith("triptych_")]
            log(f"/metrics {service}: {len(ours)} triptych_ series")
            if not ours:
                failures.append(f"/metrics of {service} has no triptych_ series")
        timings["references + metrics"] = time.monotonic() - t

        t = time.monotonic()
        model = os.path.join(models, "model.gguf")
        sent, completed, unanswered = load_with_kill(cluster, gateway, model, workdir, args)
        # Streams on the killed node migrate; a clean error is allowed, but
        # the cluster must keep serving most of the load.
        if unanswered or sent == 0 or completed < 0.9 * sent:
            failures.append(f"load with a decode kill: {unanswered} of {sent} unanswered, "
                            f"{completed} completed")
        sched = metrics(cluster.admin_url("scheduler"))
        log(f"scheduler: {sched.get('triptych_scheduler_migrations_total', 0):.0f} migrations, "
            f"{sched.get('triptych_scheduler_retries_total', 0):.0f} retries")
        failures += serves_again(cluster, gateway, lines)
        timings["load + kill + restart"] = time.monotonic() - t
    except Exception as e:  # noqa: BLE001 - reported as a failure, cleanup follows
        failures.append(f"{type(e).__name__}: {e}")
        if cluster is not None:
            print(cluster.logs()[-6000:])
    finally:
        if cluster is not None:
            t = time.monotonic()
            cluster.compose("down", "-v", "--remove-orphans", "--timeout", "20", timeout=300,
                            check=False)
            left = cluster.leftovers()
            if left:
                failures.append(f"left behind after down -v: {left}")
            timings["down"] = time.monotonic() - t
        engine.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    timings["total"] = time.monotonic() - t_all
    log("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    for f in failures:
        print(f"FAIL: {f}")
    if not failures:
        print("compose-e2e: PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
