#!/usr/bin/env python3
"""Every metric the alerting rules and the dashboard name must be one pemx exports.

Usage: check_metric_names.py METRICS_TEXT RULES_YAML DASHBOARD_JSON [QUERIES_RULES_OUT]

METRICS_TEXT is what the real binary's /metrics answered (scripts/check-monitoring.sh scrapes
it). Each pemx_* name in the rules file (expressions and annotations alike) and in the
dashboard's strings (queries, variables) must be a series name there, and each label matched
in a selector ({label="…"}) must be one of that metric's labels. A selector on
{__name__=~"pemx_(a|b)_c"} is checked for each alternative. pemx_postgres_store_* names count
as exported when their pemx_sqlite_store_* twin is: both come from the one list of the shared
store writer (src/store/writer.cpp names them "pemx_<stage type>_<name>"), and the check runs
without a PostgreSQL. Outside pemx, only the series Prometheus and the blackbox exporter make
may appear (kOtherNames).

With QUERIES_RULES_OUT, the dashboard's queries (its Grafana variables replaced by values) are
also written there as recording rules, for `promtool check rules` to parse them.
"""
import itertools
import json
import re
import sys

kOtherNames = {
    "up": {"job", "instance"},  # Prometheus, per scrape target
    "probe_success": {"job", "instance"},  # the blackbox exporter's /readyz probe
}
# Labels Prometheus adds to every scraped series (the scrape config's target labels).
kTargetLabels = {"job", "instance"}


def exported(path):
    """{name: set of label names} of a Prometheus text exposition."""
    names = {}
    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = sample.match(line)
            if not m or line.startswith("#"):
                continue
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
            names.setdefault(m.group(1), set()).update(labels)
    return names


def expand(pattern):
    """pemx_(a|b)_c -> [pemx_a_c, pemx_b_c]: the alternatives of un-nested groups."""
    parts = re.split(r"\(([^()]*)\)", pattern)
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def references(text):
    """[(name, {matched labels})] of every metric a PromQL-bearing text names."""
    refs = []
    # Selectors with a body: name{…} or {__name__=~"…", …}.
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^{}]*)\}", text):
        name, body = m.group(1), m.group(2)
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", body))
        regex = re.search(r'__name__\s*=~?\s*"([^"]*)"', body)
        labels.discard("__name__")
        if regex:
            refs += [(n, labels) for n in expand(regex.group(1))]
        elif name and (name.startswith("pemx_") or name in kOtherNames):
            refs.append((name, labels))
    # Every other pemx_ name (bare selectors, annotations, label_values(…) in variables).
    for m in re.finditer(r"\bpemx_[a-z0-9_]*[a-z0-9]", text):
        refs.append((m.group(0), set()))
    return refs


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def write_query_rules(dashboard, path):
    """The dashboard's PromQL (panel targets, annotations) as a rules file promtool parses."""
    grafana = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h",
               "$job": ".*", "$instance": ".*"}
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(dashboard)
    with open(path, "w", encoding="utf-8") as f:
        f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
        for i, expr in enumerate(exprs):
            for k, v in grafana.items():
                expr = expr.replace(k, v)
            f.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(expr)}\n")
    return len(exprs)


def main():
    metrics_path, rules_path, dashboard_path = sys.argv[1:4]
    names = exported(metrics_path)
    with open(rules_path, encoding="utf-8") as f:
        sources = [(rules_path, f.read())]
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)  # a syntax error fails here, naming the line
    sources += [(dashboard_path, s) for s in strings(dashboard)]
    if len(sys.argv) > 4:
        write_query_rules(dashboard, sys.argv[4])
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        print(f"{dashboard_path}: panel ids repeat", file=sys.stderr)
        return 1

    problems, checked = [], set()
    for origin, text in sources:
        for name, labels in references(text):
            twin = name.replace("pemx_postgres_store_", "pemx_sqlite_store_", 1)
            if name in kOtherNames:
                have = kOtherNames[name]
            elif name in names:
                have = names[name] | kTargetLabels
            elif twin in names:
                have = names[twin] | kTargetLabels
            else:
                problems.append(f"{origin}: {name} is not a metric pemx exports")
                continue
            for label in sorted(labels - have):
                problems.append(f"{origin}: {name} has no label {label} "
                                f"(it has: {', '.join(sorted(have)) or 'none'})")
            checked.add(name)
    for p in sorted(set(problems)):
        print(p, file=sys.stderr)
    if problems:
        print(f"check_metric_names: {len(set(problems))} problem(s); the names pemx exports are "
              f"in its /metrics (scripts/check-monitoring.sh)", file=sys.stderr)
        return 1
    print(f"check_metric_names: the rules and the dashboard name {len(checked)} metrics, "
          f"all exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
