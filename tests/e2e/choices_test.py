#!/usr/bin/env python3
"""`n` > 1 through a real local cluster (issue #13, scope item 5).

Starts gateway, scheduler, 1 prefill and 1 decode node with
scripts/local-cluster.sh (no memory node, so that every prompt token is
either computed or not), once disaggregated (every prompt prefilled on the
prefill node, KV to the decode node over UCX, the choices forked there) and
once colocated (prefilled on the decode node), and checks over HTTP:
  - n=4 greedy: every choice equals the n=1 greedy completion;
  - the prompt is computed once: the prefill node's (disaggregated) or the
    decode node's (colocated) triptych_prompt_tokens_computed_total grows by
    the prompt's tokens, not 4 times that, and the other node's not at all;
  - n=4 with temperature 1 and a seed: reproducible, four different streams,
    choice i equal to an n=1 request with seed + i;
  - streamed chat n=3: every chunk has its choice's index, each choice's
    chunks add up to the non-streamed choice; usage counts the prompt once;
  - n above the gateway's --max-n (8) is a 400 naming "n".

`--device gpu` runs the prefill and decode nodes on the device model.

Needs ../shared/conformance (skips locally without it, fails under CI=true).
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
from e2e_checks import ROOT, SHARED, metrics, model_id

CLUSTER = os.path.join(ROOT, "scripts", "local-cluster.sh")
COUNTER = "triptych_prompt_tokens_computed_total"


def post(base, path, body):
    req = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def complete(base, model, prompt, **fields):
    status, body = post(base, "/v1/completions",
                        dict(model=model, prompt=prompt, max_tokens=32, **fields))
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {body}")
    return json.loads(body)


def texts(resp):
    choices = sorted(resp["choices"], key=lambda c: c["index"])
    assert [c["index"] for c in choices] == list(range(len(choices))), resp
    return [c.get("text", c.get("message", {}).get("content")) for c in choices]


def check(label, base, prefill_admin, decode_admin, disaggregated):
    failures = []
    model = model_id(base)
    computing, idle = (prefill_admin, decode_admin) if disaggregated else (decode_admin, prefill_admin)

    # Greedy n=4 on a prompt no node has seen; the prompt's tokens are computed once.
    prompt = "Once upon a time, there was a little girl named Lily who loved to play outside"
    forked = "triptych_forked_choices_total"
    before = (metrics(computing).get(COUNTER, 0), metrics(idle).get(COUNTER, 0),
              metrics(decode_admin).get(forked, 0))
    four = complete(base, model, prompt, n=4, temperature=0)
    after = (metrics(computing).get(COUNTER, 0), metrics(idle).get(COUNTER, 0),
             metrics(decode_admin).get(forked, 0))
    if after[2] - before[2] != 3:
        failures.append(f"{label}: the decode node forked {after[2] - before[2]} choices, want 3")
    prompt_tokens = four["usage"]["prompt_tokens"]
    computed, idle_computed = after[0] - before[0], after[1] - before[1]
    print(f"{label}: n=4 greedy, prompt {prompt_tokens} tokens: prompt tokens computed "
          f"{computed:.0f} on the {'prefill' if disaggregated else 'decode'} node, "
          f"{idle_computed:.0f} on the other; choices forked on the decode node "
          f"{after[2] - before[2]:.0f}; usage {four['usage']}", flush=True)
    if computed != prompt_tokens or idle_computed != 0:
        failures.append(f"{label}: prompt tokens computed {computed} / {idle_computed}, "
                        f"want {prompt_tokens} / 0")
    one = complete(base, model, prompt, temperature=0)
    if texts(four) != texts(one) * 4:
        failures.append(f"{label}: n=4 greedy {texts(four)} != n=1 {texts(one)}")
    if four["usage"]["completion_tokens"] != 4 * one["usage"]["completion_tokens"]:
        failures.append(f"{label}: usage {four['usage']} vs n=1 {one['usage']}")

    # Seeded sampling: reproducible per index, distinct, choice i = seed + i.
    prompt = "The little dog ran to the park"
    a = texts(complete(base, model, prompt, n=4, temperature=1, seed=99))
    b = texts(complete(base, model, prompt, n=4, temperature=1, seed=99))
    singles = [texts(complete(base, model, prompt, temperature=1, seed=99 + i))[0]
               for i in range(4)]
    if a != b:
        failures.append(f"{label}: seeded n=4 not reproducible: {a} vs {b}")
    if a != singles:
        failures.append(f"{label}: seeded choices {a} != n=1 with seed+i {singles}")
    if len(set(a)) != 4:
        failures.append(f"{label}: seeded choices not distinct: {a}")

    # Streamed chat n=3 against the non-streamed answer.
    chat = dict(model=model, messages=[{"role": "user", "content": "Tell me a story"}],
                max_tokens=24, temperature=0, n=3)
    status, body = post(base, "/v1/chat/completions", chat)
    plain = json.loads(body) if status == 200 else None
    status_s, stream = post(base, "/v1/chat/completions",
                            dict(chat, stream=True, stream_options={"include_usage": True}))
    if plain is None or status_s != 200:
        failures.append(f"{label}: chat n=3 failed: {status} {body[:300]} / {status_s}")
    else:
        got, usage = {}, None
        for event in stream.split("\n\n"):
            if not event.startswith("data: ") or event == "data: [DONE]":
                continue
            chunk = json.loads(event[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for c in chunk["choices"]:
                got[c["index"]] = got.get(c["index"], "") + (c["delta"].get("content") or "")
        want = {i: t for i, t in enumerate(texts(plain))}
        if got != want:
            failures.append(f"{label}: streamed chat choices {got} != {want}")
        # (cached_tokens differ: the second request finds the first's prefix.)
        counts = lambda u: u and (u["prompt_tokens"], u["completion_tokens"])
        if counts(usage) != counts(plain["usage"]):
            failures.append(f"{label}: streamed usage {usage} != {plain['usage']}")

    status, body = post(base, "/v1/completions", dict(model=model, prompt="x", n=9))
    if status != 400 or json.loads(body)["error"]["param"] != "n":
        failures.append(f"{label}: n=9 got {status} {body[:200]}")
    return failures


def run_mode(disaggregated, device="cpu"):
    state = tempfile.mkdtemp(prefix="triptych-choices-")
    env = dict(os.environ, TRIPTYCH_CLUSTER_DIR=state)
    start = subprocess.run(
        ["bash", CLUSTER, "start", "--model", os.path.join(SHARED, "models", "stories260K.gguf"),
         "--prefill", "1", "--decode", "1", "--port", "0", "--no-memory",
         "--disagg-threshold", "0" if disaggregated else "1000000",
         "--prefill-device", device, "--decode-device", device],
        env=env, capture_output=True, text=True, timeout=180)
    label = ("disaggregated" if disaggregated else "colocated") + f" ({device})"
    try:
        if start.returncode != 0:
            return [f"{label}: cluster start failed: {start.stderr[-2000:]}"]
        base = start.stdout.strip().splitlines()[-1]
        cfg = dict(l.split("=", 1) for l in open(os.path.join(state, "env")).read().split("\n")
                   if "=" in l)
        prefill_admin, decode_admin = cfg["TRIPTYCH_NODE_ADMIN_PORTS"].strip('"').split()
        return check(label, base, f"http://127.0.0.1:{prefill_admin}",
                     f"http://127.0.0.1:{decode_admin}", disaggregated)
    except Exception as e:  # a failed check, reported with the cluster stopped
        return [f"{label}: {e!r}"]
    finally:
        subprocess.run(["bash", CLUSTER, "stop"], env=env, capture_output=True, timeout=60)


def main():
    if not os.path.isdir(SHARED):
        if os.environ.get("CI") == "true":
            print("FAIL: ../shared/conformance is missing (required when CI=true)")
            return 1
        print("SKIP: ../shared/conformance not found")
        return 0
    # --device gpu: the nodes run the device model (the HIP CPU Runtime in
    # CI); the forks copy blocks of its device KV pool.
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    failures = run_mode(True, device) + run_mode(False, device)
    for f in failures:
        print("FAIL:", f)
    print("PASS" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
