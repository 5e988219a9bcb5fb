#!/usr/bin/env python3
"""End-to-end test of a local Triptych cluster (issue #3 acceptance).

Starts 1 gateway, 1 scheduler, 1 prefill and 2 decode processes with
scripts/local-cluster.sh, sends every stories260K reference prompt to
POST /v1/completions (max_tokens 48, temperature 0) and checks the
continuation byte for byte, once disaggregated (every prompt prefilled on the
prefill node, KV moved over UCX) and once colocated (prefilled on the decode
nodes). Also checks from the nodes' /metrics that the KV really moved: bytes
sent by the prefill node equal bytes received by the decode nodes, and the
decode nodes computed no prompt tokens when disaggregated.

Needs ../shared/conformance (skips locally without it, fails under CI=true).
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "conformance")
CLUSTER = os.path.join(ROOT, "scripts", "local-cluster.sh")


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = out.get(name, 0.0) + float(value)
    return out


def model_id(port):
    models = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10).read())
    return models["data"][0]["id"]


def complete(port, prompt):
    body = json.dumps({"model": model_id(port), "prompt": prompt, "max_tokens": 48,
                       "temperature": 0}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        resp = json.loads(urllib.request.urlopen(req, timeout=120).read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"HTTP {e.code}: {e.read().decode(errors='replace')}") from e
    return resp["choices"][0]["text"], resp


def run_mode(model_file, lines, disaggregated):
    state = tempfile.mkdtemp(prefix="triptych-e2e-")
    env = dict(os.environ, TRIPTYCH_CLUSTER_DIR=state)
    threshold = "0" if disaggregated else "1000000"
    start = subprocess.run(
        ["bash", CLUSTER, "start", "--model", os.path.join(SHARED, "models", model_file),
         "--prefill", "1", "--decode", "2", "--port", "0", "--disagg-threshold", threshold],
        env=env, capture_output=True, text=True, timeout=180)
    failures = []
    try:
        if start.returncode != 0:
            return [f"cluster start failed: {start.stderr[-2000:]}"]
        url = start.stdout.strip().splitlines()[-1]
        port = int(url.rsplit(":", 1)[1])
        cfg = dict(l.split("=", 1) for l in open(os.path.join(state, "env")).read().split("\n") if "=" in l)
        admins = cfg["TRIPTYCH_NODE_ADMIN_PORTS"].strip('"').split()
        prefill_admin, decode_admins = admins[0], admins[1:]
        for line in lines:
            text, resp = complete(port, line["prompt"])
            if line["prompt"] + text != line["output"]:
                failures.append(f"{model_file} disagg={disaggregated}: {line['prompt']!r} -> {text!r}")
            if resp["usage"]["prompt_tokens"] <= 0 or resp["usage"]["completion_tokens"] <= 0:
                failures.append(f"bad usage {resp['usage']}")
        p = metrics(prefill_admin)
        d = [metrics(a) for a in decode_admins]
        sent = p.get("triptych_kv_bytes_sent_total", 0)
        received = sum(m.get("triptych_kv_bytes_received_total", 0) for m in d)
        decode_prompt = sum(m.get("triptych_prompt_tokens_computed_total", 0) for m in d)
        served = [m.get("triptych_decode_tokens_computed_total", 0) for m in d]
        print(f"{model_file} disaggregated={disaggregated}: kv bytes sent {sent:.0f} received "
              f"{received:.0f}; decode prompt tokens computed {decode_prompt:.0f}; prefill prompt "
              f"tokens {p.get('triptych_prompt_tokens_computed_total', 0):.0f}; decode tokens per "
              f"node {served}")
        if disaggregated:
            if not (sent > 0 and sent == received):
                failures.append(f"KV bytes sent {sent} != received {received}")
            if decode_prompt != 0:
                failures.append(f"decode nodes computed {decode_prompt} prompt tokens")
        else:
            if sent != 0 or decode_prompt == 0:
                failures.append(f"colocated run moved KV ({sent}) or computed no prompt tokens")
    finally:
        subprocess.run(["bash", CLUSTER, "stop"], env=env, capture_output=True, timeout=60)
    return failures


def main():
    if not os.path.isdir(SHARED):
        if os.environ.get("CI") == "true":
            print("FAIL: ../shared/conformance is missing (required when CI=true)")
            return 1
        print("SKIP: ../shared/conformance not found")
        return 0
    lines = [json.loads(l) for l in open(os.path.join(SHARED, "reference", "stories260K-greedy.jsonl"))]
    failures = []
    for model_file in ("stories260K.gguf", "stories260K-F16.gguf"):
        mine = [l for l in lines if l["model"] == model_file]
        for disagg in (True, False):
            failures += run_mode(model_file, mine, disagg)
    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
