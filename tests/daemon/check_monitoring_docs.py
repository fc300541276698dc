#!/usr/bin/python3
# docs/monitoring agrees with the daemon: every metric the alert rules and the
# Grafana dashboard use is one settled exports (tools/settled/metrics.cpp) and
# is documented in docs/monitoring/README.md, and every exported one is documented.
"""usage: check_monitoring_docs.py SOURCE_DIR"""

import json
import re
import sys
from pathlib import Path

if len(sys.argv) != 2:
    sys.exit(__doc__)
src = Path(sys.argv[1])
mon = src / "docs/monitoring"
problems = []

exported = set(re.findall(r'"(settled_[a-z_]+)', (src / "tools/settled/metrics.cpp").read_text()))
exported = {n for n in exported if not n.endswith("_")}
readme = (mon / "README.md").read_text()
documented = set(re.findall(r"^\| `(settled_[a-z_]+)`", readme, re.M))


def family(name):
    return re.sub(r"_(bucket|sum|count)$", "", name)


def used_in(text):
    return {family(n) for n in re.findall(r"\b(settled_[a-z_]+)", text)}


for n in sorted(exported - documented):
    problems.append(f"{n} is exported but not in docs/monitoring/README.md's tables")
for n in sorted(documented - exported):
    problems.append(f"{n} is documented but settled does not export it")

try:
    dash = json.loads((mon / "settled-dashboard.json").read_text())
except json.JSONDecodeError as e:
    sys.exit(f"check_monitoring_docs: settled-dashboard.json is not JSON: {e}")
exprs = []
for p in dash.get("panels", []):
    if not p.get("targets"):
        problems.append(f"dashboard panel {p.get('title')!r} has no query")
    exprs += [t.get("expr", "") for t in p.get("targets", [])]
for n in sorted(used_in("\n".join(exprs)) - exported):
    problems.append(f"the dashboard uses {n}, which settled does not export")

rules = (mon / "settled-alerts.yml").read_text()
rule_exprs = "\n".join(re.findall(r"expr:\s*(?:\|\n)?((?:.*\n)+?)\s*(?:for|labels):", rules))
for n in sorted(used_in(rule_exprs) - exported):
    problems.append(f"the alert rules use {n}, which settled does not export")
for alert in re.findall(r"- alert: (\w+)", rules):
    if f"`{alert}`" not in readme:
        problems.append(f"alert {alert} is not explained in docs/monitoring/README.md")
for want in ("settled_line_state", "settled_parked_items", "settled_redlist_age_seconds", "settled_in_doubt",
             "node_filesystem_avail_bytes"):
    if want not in rules:
        problems.append(f"no alert rule uses {want}")

if problems:
    print("check_monitoring_docs: " + "\n  ".join([f"{len(problems)} problem(s):"] + problems), file=sys.stderr)
    sys.exit(1)
print(f"check_monitoring_docs: {len(exported)} metrics exported and documented; "
      f"{len(dash['panels'])} dashboard panels and the alert rules use only those")
