#!/usr/bin/env python3
"""Tool calling end to end (issue #13 acceptance).

Generates a random-weight model carrying Qwen 2.5's chat template (Hermes
<tool_call> format) from ../shared/conformance/chat_templates, then runs
tool_calls.mjs (the official openai npm client: tool_choice "required" and a
named function, non-streaming and streaming, every call checked against its
tool's schema, each followed by a request carrying the assistant's
tool_calls and the tool results; an unknown function is a 400) against
  1. `triptych-gateway --local` (colocated), and
  2. a local cluster with --disagg-threshold 0 (every prompt prefilled on
     the prefill node, the first token sampled on the decode node under the
     constraint); the prefill node's job counter must have grown;
then the same checks colocated on models carrying Llama 3.1's template
(JSON calls, "parameters") and Mistral Nemo's ([TOOL_CALLS] format; its
template refuses tool-call ids that are not 9 characters), and gpt-oss's
(harmony channels: named functions only, the call's header put into the
prompt; "required" with several tools is a 400).
Needs node and npm (the openai package from the committed package-lock).
"""
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("TRIPTYCH_BIN", os.path.join(ROOT, "build", "bin"))
CLUSTER = os.path.join(ROOT, "scripts", "local-cluster.sh")
MODEL_NAME = "tools-rand"
TEMPLATES = os.path.join(ROOT, "..", "shared", "conformance", "chat_templates", "templates")
# Hermes (<tool_call>) through both paths; the Llama 3 JSON and Mistral
# formats (no marker in the constrained output) colocated.
TEMPLATE = os.path.join(TEMPLATES, "Qwen-Qwen2.5-7B-Instruct.jinja")
OTHER_TEMPLATES = {"llama3": "meta-llama-Llama-3.1-8B-Instruct.jinja",
                   "mistral": "mistralai-Mistral-Nemo-Instruct-2407.jinja",
                   "gpt_oss": "openai-gpt-oss-120b.jinja"}
# Formats whose function name is outside the JSON: named functions only.
NAMED_ONLY = {"gpt_oss"}


def validate(url, label, named_only=False):
    r = subprocess.run(["node", os.path.join(HERE, "tool_calls.mjs"), url, MODEL_NAME, label]
                       + (["named"] if named_only else []),
                       capture_output=True, text=True, timeout=600)
    print(r.stdout[-6000:], r.stderr[-2000:], end="")
    return r.returncode == 0


def prefill_jobs(admin_port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10).read().decode()
    m = re.search(r'^triptych_prefill_jobs_total\{result="ok"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def make_model(path, template):
    subprocess.run([os.path.join(BIN, "triptych-gen-model"), "--out", path, "--dim", "64",
                    "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128",
                    "--vocab", "2048", "--ctx", "4096", "--seed", "13",
                    "--chat-template", template],
                   check=True, capture_output=True)


def colocated(model, label="colocated", named_only=False):
    proc = subprocess.Popen([os.path.join(BIN, "triptych-gateway"), "--model", model, "--local",
                             "--port", "0", "--served-model-name", MODEL_NAME],
                            stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stderr:
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        if url is None:
            print("FAIL: the gateway did not start")
            return False
        return validate(url, label, named_only)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def disaggregated(model):
    state = tempfile.mkdtemp(prefix="triptych-tools-")
    env = dict(os.environ, TRIPTYCH_CLUSTER_DIR=state, TRIPTYCH_BIN=BIN)
    start = subprocess.run(["bash", CLUSTER, "start", "--model", model, "--prefill", "1",
                            "--decode", "1", "--port", "0", "--disagg-threshold", "0",
                            "--no-memory"],
                           env=env, capture_output=True, text=True, timeout=180)
    try:
        if start.returncode != 0:
            print("FAIL: cluster start failed:", start.stderr[-2000:])
            return False
        url = start.stdout.strip().splitlines()[-1]
        cfg = dict(l.split("=", 1) for l in open(os.path.join(state, "env")).read().split("\n")
                   if "=" in l)
        prefill_admin = cfg["TRIPTYCH_NODE_ADMIN_PORTS"].strip('"').split()[0]
        before = prefill_jobs(prefill_admin)
        ok = validate(url, "disaggregated")
        jobs = prefill_jobs(prefill_admin) - before
        print(f"disaggregated: the prefill node ran {jobs:.0f} prefills")
        if jobs < 10:
            print("FAIL: fewer than 10 prompts were prefilled on the prefill node")
            ok = False
        return ok
    finally:
        subprocess.run(["bash", CLUSTER, "stop"], env=env, capture_output=True, timeout=60)


def main():
    if not os.path.isfile(TEMPLATE):
        print("missing", TEMPLATE)
        return 1 if os.environ.get("CI") == "true" else 77
    if not os.path.isdir(os.path.join(HERE, "node_modules", "openai")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, MODEL_NAME + ".gguf")
        make_model(model, TEMPLATE)
        ok = colocated(model)
        ok = disaggregated(model) and ok
        for family, name in OTHER_TEMPLATES.items():
            other = os.path.join(tmp, f"{family}.gguf")
            make_model(other, os.path.join(TEMPLATES, name))
            ok = colocated(other, f"colocated {family}", family in NAMED_ONLY) and ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
