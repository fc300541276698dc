#!/usr/bin/python3
# Scrapes settled's /metrics over HTTP and checks the page with Prometheus'
# own parser (python3-prometheus-client): families, types, HELP, seconds not
# milliseconds, every series present (counters at 0 before any traffic, but
# the ledger's, which count start-up's writes too).
"""usage: check_metrics.py PORT [--before-traffic]"""

import socket
import sys
import urllib.error
import urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("check_metrics: python3-prometheus-client is missing (tools/setup.sh installs it)")

# family (as the parser names it: a counter without its _total) -> type
EXPECTED = {
    "settled_settlements": "counter",
    "settled_refunds": "counter",
    "settled_insurer_calls": "counter",
    "settled_reversals": "counter",
    "settled_uploads": "counter",
    "settled_audit_failures": "counter",
    "settled_work_items_added": "counter",
    "settled_redlist_syncs": "counter",
    "settled_closeouts": "counter",
    "settled_ledger_commits": "counter",
    "settled_ledger_writes": "counter",
    "settled_ledger_wal_bytes": "counter",
    "settled_insurer_call_duration_seconds": "histogram",
    "settled_request_duration_seconds": "histogram",
    "settled_flow_step_duration_seconds": "histogram",
    "settled_in_doubt": "gauge",
    "settled_pending_reversals": "gauge",
    "settled_pending_uploads": "gauge",
    "settled_parked_items": "gauge",
    "settled_network_state": "gauge",
    "settled_line_state": "gauge",
    "settled_cashier_connections": "gauge",
    "settled_work_items": "gauge",
    "settled_storage_encrypted": "gauge",
    "settled_insurer_clock_skew_seconds": "gauge",
    "settled_insurer_clock_refused": "gauge",
    "settled_redlist_version": "gauge",
    "settled_redlist_entries": "gauge",
    "settled_redlist_last_sync_timestamp_seconds": "gauge",
    "settled_redlist_age_seconds": "gauge",
}

# Labelled series that must be there from the start.
EXPECTED_SERIES = [
    ("settled_settlements_total", {"mode": "online", "outcome": "settled"}),
    ("settled_settlements_total", {"mode": "offline", "outcome": "stored"}),
    ("settled_settlements_total", {"mode": "online", "outcome": "in_doubt"}),
    ("settled_refunds_total", {"outcome": "refunded"}),
    ("settled_insurer_calls_total", {"infno": "2207", "outcome": "answered"}),
    ("settled_reversals_total", {"outcome": "parked"}),
    ("settled_uploads_total", {"outcome": "accepted"}),
    ("settled_redlist_syncs_total", {"kind": "full", "outcome": "failed"}),
    ("settled_work_items_added_total", {"kind": "parked_reversal"}),
    ("settled_parked_items", {"kind": "reversal"}),
    ("settled_parked_items", {"kind": "offline_upload"}),
    ("settled_line_state", {"state": "online"}),
    ("settled_line_state", {"state": "offline"}),
    ("settled_line_state", {"state": "draining"}),
    ("settled_request_duration_seconds_count", {"method": "settle.commit"}),
    ("settled_insurer_call_duration_seconds_count", {"infno": "2207"}),
    ("settled_flow_step_duration_seconds_count", {"step": "claim"}),
    ("settled_flow_step_duration_seconds_count", {"step": "ledger_commit"}),
    ("settled_flow_step_duration_seconds_count", {"step": "insurer_call"}),
]

problems = []


def problem(text):
    problems.append(text)


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8")


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply.decode("latin-1")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    port = int(sys.argv[1])
    before_traffic = "--before-traffic" in sys.argv[2:]

    status, ctype, page = get(port, "/metrics")
    if status != 200:
        sys.exit(f"check_metrics: GET /metrics answered {status}")
    if not ctype.startswith("text/plain; version=0.0.4"):
        problem(f"Content-Type is {ctype!r}, not text/plain; version=0.0.4")

    families = {f.name: f for f in text_string_to_metric_families(page)}
    for name, kind in EXPECTED.items():
        f = families.get(name)
        if f is None:
            problem(f"family {name} missing")
        elif f.type != kind:
            problem(f"family {name} is a {f.type}, expected a {kind}")
    for f in families.values():
        if not f.documentation.strip():
            problem(f"family {f.name} has no HELP")
        if "_ms" in f.name or any("_ms" in s.name for s in f.samples):
            problem(f"family {f.name} is in milliseconds")
        if f.type == "counter" and not all(s.name.endswith("_total") for s in f.samples):
            problem(f"counter {f.name} has a sample not named _total")
        if f.type == "histogram" and not f.name.endswith("_seconds"):
            problem(f"histogram {f.name} is not in seconds")
        if not f.samples:
            problem(f"family {f.name} has no series")
    # HELP and TYPE lines precede every family in the page itself.
    for name, f in families.items():
        exposed = name + "_total" if f.type == "counter" and f"# TYPE {name}_total" in page else name
        if f"# HELP {exposed} " not in page or f"# TYPE {exposed} {f.type}" not in page:
            problem(f"family {exposed}: HELP or TYPE line missing")

    samples = [s for f in families.values() for s in f.samples]
    for name, labels in EXPECTED_SERIES:
        if not any(s.name == name and s.labels == labels for s in samples):
            problem(f"series {name}{labels} missing")
    if before_traffic:
        for f in families.values():
            # The ledger's writes count from the start: start-up writes too.
            if f.type in ("counter", "histogram") and not f.name.startswith("settled_ledger_"):
                for s in f.samples:
                    if s.value != 0:
                        problem(f"{s.name}{s.labels} is {s.value} before any traffic")

    # One route: anything else is 404; a request head past 8 KiB is refused.
    status, _, _ = get(port, "/")
    if status != 404:
        problem(f"GET / answered {status}, expected 404")
    status, _, _ = get(port, "/metrics/x")
    if status != 404:
        problem(f"GET /metrics/x answered {status}, expected 404")
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    reply = raw_request(port, big)
    if not reply.startswith("HTTP/1.1 431"):
        problem(f"a 20 KB request head was answered {reply[:40]!r}, expected 431")

    if problems:
        print("check_metrics: " + str(len(problems)) + " problem(s):\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"check_metrics: {len(families)} families, {len(samples)} series; all checks passed")


main()
