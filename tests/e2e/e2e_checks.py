"""Conformance checks shared by the end-to-end cluster tests.

cluster_test.py (every role on loopback) and multihost_test.py (every role in
its own network namespace) start their clusters differently but check them the
same way: every stories260K reference prompt through POST /v1/completions
(max_tokens 48, temperature 0) must give the reference text byte for byte, and
the nodes' /metrics must show where the KV went. Every function takes base URLs
(http://HOST:PORT), so callers decide which address, and which network
namespace, the requests come from. Nothing here starts or stops processes.
"""
import concurrent.futures
import json
import os
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "conformance")

# triptych-loadgen error kinds that mean the client was never answered (as
# opposed to a clean HTTP error status or an error event in the stream).
UNANSWERED_KINDS = {"timeout", "deadline", "incomplete_stream", "io_error", "connection_refused",
                    "connect_error", "cancelled", "malformed_sse", "malformed_response"}


def reference_lines(model_file):
    """The reference lines for one model file of ../shared/conformance."""
    path = os.path.join(SHARED, "reference", "stories260K-greedy.jsonl")
    lines = [json.loads(l) for l in open(path) if l.strip()]
    return [l for l in lines if l["model"] == model_file]


def metrics(base_url):
    """/metrics of one process as {series: value}, series with equal names summed."""
    text = urllib.request.urlopen(f"{base_url}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = out.get(name, 0.0) + float(value)
    return out


def model_id(base_url):
    models = json.loads(urllib.request.urlopen(f"{base_url}/v1/models", timeout=10).read())
    return models["data"][0]["id"]


def complete(base_url, prompt):
    """Greedy 48-token completion; returns (text, whole response)."""
    body = json.dumps({"model": model_id(base_url), "prompt": prompt, "max_tokens": 48,
                       "temperature": 0}).encode()
    req = urllib.request.Request(f"{base_url}/v1/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        resp = json.loads(urllib.request.urlopen(req, timeout=120).read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"HTTP {e.code}: {e.read().decode(errors='replace')}") from e
    return resp["choices"][0]["text"], resp


def check_cluster(label, gateway_url, prefill_admin_url, decode_admin_urls, lines,
                  disaggregated):
    """Sends every line through the gateway and checks text, usage and KV movement.

    Returns (failures, stats): a list of failure strings (empty = pass) and the
    figures read from the nodes' /metrics (kv_sent, kv_received, decode_prompt,
    prefill_prompt, decode_tokens per decode node). The cluster must be fresh:
    the KV checks read counters that start at 0.
    """
    failures = []
    # All prompts at once, so the scheduler spreads them over the decode
    # nodes and continuous batching mixes them.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(lines)) as pool:
        results = list(pool.map(lambda l: complete(gateway_url, l["prompt"]), lines))
    for line, (text, resp) in zip(lines, results):
        if line["prompt"] + text != line["output"]:
            failures.append(f"{label} disagg={disaggregated}: {line['prompt']!r} -> {text!r}")
        if resp["usage"]["prompt_tokens"] <= 0 or resp["usage"]["completion_tokens"] <= 0:
            failures.append(f"{label}: bad usage {resp['usage']}")
    p = metrics(prefill_admin_url)
    d = [metrics(u) for u in decode_admin_urls]
    stats = {
        "kv_sent": p.get("triptych_kv_bytes_sent_total", 0),
        "kv_received": sum(m.get("triptych_kv_bytes_received_total", 0) for m in d),
        "decode_prompt": sum(m.get("triptych_prompt_tokens_computed_total", 0) for m in d),
        "prefill_prompt": p.get("triptych_prompt_tokens_computed_total", 0),
        "decode_tokens": [m.get("triptych_decode_tokens_computed_total", 0) for m in d],
    }
    print(f"{label} disaggregated={disaggregated}: kv bytes sent {stats['kv_sent']:.0f} received "
          f"{stats['kv_received']:.0f}; decode prompt tokens computed {stats['decode_prompt']:.0f}; "
          f"prefill prompt tokens {stats['prefill_prompt']:.0f}; decode tokens per node "
          f"{stats['decode_tokens']}", flush=True)
    if len(decode_admin_urls) > 1 and min(stats["decode_tokens"]) == 0:
        failures.append(f"{label}: a decode node served nothing {stats['decode_tokens']}")
    if disaggregated:
        if not (stats["kv_sent"] > 0 and stats["kv_sent"] == stats["kv_received"]):
            failures.append(f"{label}: KV bytes sent {stats['kv_sent']} != received "
                            f"{stats['kv_received']}")
        if stats["decode_prompt"] != 0:
            failures.append(f"{label}: decode nodes computed {stats['decode_prompt']} prompt tokens")
    else:
        if stats["kv_sent"] != 0 or stats["decode_prompt"] == 0:
            failures.append(f"{label}: colocated run moved KV ({stats['kv_sent']}) or computed no "
                            "prompt tokens")
    return failures, stats
