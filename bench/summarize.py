#!/usr/bin/env python3
"""bench/summarize.py: the summary table of docs/benchmarks.md from the benchmark scripts'
summary.json files (written by each bench/run_*.sh, completed by common.sh's
stamp_summary_json). Used by bench/run_all.sh; prints Markdown on stdout.

Each bench's figures come from the newest summary.json of that bench among --runs (the folders
of this invocation, in order), then, unless --only-runs, among the non-smoke runs in
--results (bench/results/). Targets are issue 13's; a figure without one shows "—".
"""
import argparse
import glob
import json
import os

# key -> (what is compared, operator, limit, the target's words)
TARGETS = {
    "dist.cpu_per_event": ("ratio", "<=", 1.3, "≤ 1.3 × relay (item 1)"),
    "dist.peak_rss": ("value", "<=", 64, "≤ 64 MiB (item 2)"),
    "dist.embedded.throughput": ("ratio", ">=", 0.8, "≥ 0.8 × relay (item 1)"),
    "dist.embedded.cpu_per_event": ("ratio", "<=", 1.3, "≤ 1.3 × relay (item 1)"),
    "latency.1000.p50": ("added", "<=", 2, "adds ≤ 2 ms (item 3)"),
    "latency.1000.p99": ("added", "<=", 5, "adds ≤ 5 ms (item 3)"),
    "push.throughput": ("ratio", ">=", 0.8, "≥ 0.8 × (item 4)"),
    "history.sqlite.ids10.cpu": ("ratio", "<=", 1.5, "≤ 1.5 × (item 5)"),
    "history.sqlite.ids1.cpu": ("ratio", "<=", 1.5, "≤ 1.5 × (item 5)"),
    "history.postgres.ids10.cpu": ("ratio", "<=", 1.5, "≤ 1.5 × (item 5)"),
    "history.postgres.ids1.cpu": ("ratio", "<=", 1.5, "≤ 1.5 × (item 5)"),
    "memory.all.anon_at_stored": ("value", "<=", 96, "≤ 96 MiB (item 2)"),
    "memory.dist.peak_rss": ("value", "<=", 64, "≤ 64 MiB (item 2)"),
    # run_memory.sh --compare-with a build of the code before issue 13 (run_all.sh
    # --compare-with): its throughput is the baseline.
    "memory.dist.throughput": ("ratio", ">=", 0.95, "≥ 0.95 × before issue 13 (item 2)"),
    "memory.all.throughput": ("ratio", ">=", 0.95, "≥ 0.95 × before issue 13 (item 2)"),
}
# Targets measured only by a run with a build to compare with (run_all.sh --compare-with): a
# note under the table when the newest memory run had none, so that the table is not read as
# complete.
NEEDS_COMPARED_BUILD = {
    "memory.all.throughput": "item 2's \"at most 5 % throughput lost\" (`bench/run_all.sh --only "
                             "memory --compare-with DIR`, DIR a Release build of the code before "
                             "issue 13)",
}
# Row order of the table (a bench's figures keep the order they were written in).
ORDER = ["dist", "dist-embedded", "dist-exactly_once", "latency", "storage", "storage-postgres", "history-ids10",
         "history-ids1", "history-postgres-ids10", "history-postgres-ids1", "push", "failover",
         "memory"]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, unit):
    if not isinstance(v, (int, float)):
        return "?"
    if unit in ("events/s", "requests/s"):
        return f"{v:,.0f} {unit}"
    if unit == "MiB":
        return f"{v:,.0f} MiB"
    if unit == "µs":
        return f"{v:,.1f} µs"
    if unit == "ms":
        return f"{v:,.3f} ms" if abs(v) < 1 else f"{v:,.2f} ms"
    return f"{v:,.2f} {unit}"


def verdict(fig):
    t = TARGETS.get(fig["key"])
    if t is None:
        return "—", ""
    what, op, limit, words = t
    v = fig.get(what)
    if not isinstance(v, (int, float)):
        return words, "not measured"
    ok = v <= limit if op == "<=" else v >= limit
    return words, "met" if ok else "**not met**"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="", help="file listing this invocation's results folders")
    ap.add_argument("--results", default="", help="bench/results, for benches not in --runs")
    ap.add_argument("--only-runs", action="store_true")
    ap.add_argument("--failed", default="", help="comma-separated benches that failed")
    ap.add_argument("--title", default="")
    ap.add_argument("--machine", default="")
    args = ap.parse_args()

    by_bench = {}
    runs = []
    if args.runs and os.path.exists(args.runs):
        runs = [line.strip() for line in open(args.runs) if line.strip()]
    for d in runs:  # later runs of the same bench win
        s = load(os.path.join(d, "summary.json"))
        if s and s.get("bench"):
            by_bench[s["bench"]] = s
    if args.results and not args.only_runs:
        older = []
        for p in glob.glob(os.path.join(args.results, "*", "summary.json")):
            s = load(p)
            if s and s.get("bench") and not s.get("smoke") and s["bench"] not in by_bench:
                older.append(s)
        for s in sorted(older, key=lambda s: s.get("run_id", "")):
            by_bench[s["bench"]] = s  # the newest wins

    if args.title:
        print(args.title + "\n")
    if args.machine:
        print(f"- machine: {args.machine}")
    print("- each figure is the median of its run's rounds; ratio = PEMX / baseline; "
          "\"added\" = PEMX − baseline (latency); the run's load average is at its start → end\n")
    print("| figure | PEMX | baseline | ratio | added | target (issue 13) | status | run | commit | "
          "cores, CPU | load average |")
    print("| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- |")
    failed = [b for b in args.failed.split(",") if b]
    benches = [b for b in ORDER if b in by_bench] + sorted(b for b in by_bench if b not in ORDER)
    for b in benches:
        s = by_bench[b]
        m = s.get("machine", {})
        run = s.get("run_id", "?") + (" (smoke)" if s.get("smoke") else "")
        commit = (s.get("commit") or "?")[:7] + (" +changes" if s.get("uncommitted_changes") else "")
        where = f"{m.get('cores', '?')}, {m.get('cpu', '?')}"
        load_avg = f"{m.get('load_start', '?')} → {m.get('load_end', '?')}"
        for i, fig in enumerate(s.get("figures", [])):
            if i == 1:  # the run's columns once per bench
                run = commit = where = load_avg = "〃"
            unit = fig.get("unit", "")
            base = fmt(fig.get("baseline"), unit) if fig.get("baseline") is not None else "—"
            if fig.get("baseline_label") and fig.get("baseline") is not None:
                base += f" ({fig['baseline_label']})"
            ratio = fig.get("ratio")
            added = fig.get("added")
            words, status = verdict(fig)
            print("| " + " | ".join([
                fig.get("label", fig["key"]), fmt(fig.get("value"), unit), base,
                f"{ratio:.2f}" if isinstance(ratio, (int, float)) else "—",
                fmt(added, unit) if isinstance(added, (int, float)) else "—",
                words, status or "—", run, commit, where, load_avg]) + " |")
    measured = {fig["key"] for s in by_bench.values() for fig in s.get("figures", [])
                if isinstance(fig.get("ratio"), (int, float))}
    unmeasured = [words for key, words in NEEDS_COMPARED_BUILD.items() if key not in measured]
    missing = [b for b in ORDER if b not in by_bench]
    print()
    if failed:
        print(f"Failed in this invocation (no figures): {', '.join(failed)}.")
    if missing:
        print(f"No summary.json (not run since the scripts write one): {', '.join(missing)}.")
    if unmeasured:
        print("Not measured by these runs: " + "; ".join(unmeasured) + ".")


if __name__ == "__main__":
    main()
