#!/usr/bin/env python3
"""Checks docs/metrics.md against the metrics the real binary exports.

Usage: check_metrics_doc.py METRICS_TEXT DOC [GUIDE]
  METRICS_TEXT  /metrics scrapes of the binary (Prometheus text format; several concatenated)
  DOC           docs/metrics.md: tables of | `metric` | type | labels | meaning |
  GUIDE         docs/operations.md: every `reason` of a *_dead_lettered_total series must
                have a row | `reason` | ... in it (its "Dead letters" table)

Fails (exit 1, one line per problem) when a metric of the scrape has no row, when a row's
type or label names differ from the scrape's, when a row of a section other than the one
whose heading says "not scraped" names a metric the scrape lacks, or when a row is malformed.
Run by scripts/check-monitoring.sh, which scrapes --role=all and --role=dist.
"""
import re
import sys

TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')


def scraped(path):
    types, labels, reasons = {}, {}, set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                types[name] = kind
                labels.setdefault(name, set())
                continue
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                continue
            name, names = m.group(1), set(LABEL.findall(m.group(3) or ""))
            if name.endswith("_dead_lettered_total"):
                reasons.update(re.findall(r'reason="([^"]*)"', m.group(3) or ""))
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[: -len(suffix)]
                if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                    name = base
                    names.discard("le")
                    names.discard("quantile")
            labels.setdefault(name, set()).update(names)
    return types, labels, reasons


def documented(path, problems):
    rows = {}  # name -> (line, type, labels, scraped section)
    section_scraped = True
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("#"):
                section_scraped = "not scraped" not in line
                continue
            if not line.startswith("| `"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 4:
                problems.append(f"{path}:{number}: expected 4 cells, got {len(cells)}")
                continue
            name = cells[0].strip("`")
            kind = cells[1]
            names = set() if cells[2] in ("—", "-", "") else {
                n.strip().strip("`") for n in cells[2].split(",")}
            if kind not in TYPES:
                problems.append(f"{path}:{number}: {name}: unknown type {kind!r}")
            if name in rows:
                problems.append(f"{path}:{number}: {name} is listed twice")
            if kind == "counter" and not name.endswith("_total"):
                problems.append(f"{path}:{number}: counter {name} does not end in _total")
            rows[name] = (number, kind, names, section_scraped)
    return rows


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    metrics, doc = sys.argv[1], sys.argv[2]
    problems = []
    types, labels, reasons = scraped(metrics)
    if len(sys.argv) == 4:
        guide = sys.argv[3]
        with open(guide, encoding="utf-8") as f:
            rows = {m.group(1) for m in re.finditer(r"^\| `([a-z_]+)` \|", f.read(), re.M)}
        for reason in sorted(reasons - rows):
            problems.append(f"dead-letter reason {reason} (a reason label of the scrape) has no "
                            f"row in {guide}'s \"Dead letters\" table: add what it means and "
                            "what to do")
    rows = documented(doc, problems)
    if not types:
        problems.append(f"{metrics}: no metrics (no # TYPE lines) in the scrape")
    for name in sorted(types):
        if name not in rows:
            problems.append(f"{name} ({types[name]}, labels {sorted(labels[name]) or 'none'}) "
                            f"is exported but not documented in {doc}: add a row")
            continue
        number, kind, names, _ = rows[name]
        if kind != types[name]:
            problems.append(f"{doc}:{number}: {name} is a {types[name]}, the row says {kind}")
        if names != labels[name]:
            problems.append(f"{doc}:{number}: {name} has labels {sorted(labels[name])}, "
                            f"the row says {sorted(names)}")
    for name, (number, _, _, in_scraped_section) in sorted(rows.items()):
        if in_scraped_section and name not in types:
            problems.append(f"{doc}:{number}: {name} is documented but not exported by the "
                            "scraped roles: remove the row, or move it to the \"not scraped\" "
                            "section if a stage those roles do not run exports it")
    for p in problems:
        print(f"check_metrics_doc: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"metrics: {len(types)} exported, all documented in {doc} with their type and labels"
          + (f"; {len(reasons)} dead-letter reasons in {sys.argv[3]}" if len(sys.argv) == 4
             else ""))


if __name__ == "__main__":
    main()
