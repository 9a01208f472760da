#!/usr/bin/env python3
"""Compares instruction counts with a committed baseline.

    bench_gate.py compare BASELINE.json NAME=COUNT ...     exit 1 on a regression
    bench_gate.py collect IAI_DIR                          prints NAME=COUNT lines
    bench_gate.py write BASELINE.json NAME=COUNT ...       rewrites the baseline

A benchmark regresses when its count rises by more than the tolerance (default 2%), or
when it is in the baseline but missing from the run.
"""
import glob
import json
import os
import sys

TOLERANCE = float(os.environ.get("MYELIN_GATE_TOLERANCE", "0.02"))


def collect(root):
    out = {}
    for path in sorted(glob.glob(os.path.join(root, "**", "summary.json"), recursive=True)):
        d = json.load(open(path))
        name = f"{d['module_path']}.{d['id']}" if d.get("id") else d["module_path"]
        ir = d["profiles"][0]["summaries"]["total"]["summary"]["Callgrind"]["Ir"]["metrics"]["Left"]["Int"]
        out[name] = ir
    return out


def parse_pairs(pairs):
    out = {}
    for p in pairs:
        k, v = p.rsplit("=", 1)
        out[k] = int(v)
    return out


def compare(baseline_path, current):
    base = json.load(open(baseline_path))["instructions"]
    rows, bad = [], []
    for name in sorted(set(base) | set(current)):
        b, c = base.get(name), current.get(name)
        if b is None:
            rows.append((name, "-", str(c), "new", "new (not gated until --update)"))
            continue
        if c is None:
            rows.append((name, str(b), "-", "-", "MISSING"))
            bad.append(name)
            continue
        change = (c - b) / b if b else 0.0
        verdict = "REGRESSION" if change > TOLERANCE else ("improved" if change < -TOLERANCE else "ok")
        if verdict == "REGRESSION":
            bad.append(name)
        rows.append((name, str(b), str(c), f"{100 * change:+.2f}%", verdict))
    w = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{w}}  {'baseline':>10}  {'current':>10}  {'change':>8}  verdict")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>10}  {r[2]:>10}  {r[3]:>8}  {r[4]}")
    if bad:
        print(f"\nFAIL: {len(bad)} benchmark(s) regressed more than {100 * TOLERANCE:.0f}% or disappeared: {', '.join(bad)}")
        print("If the change is intended, run scripts/bench-gate --update and commit the baseline.")
        return 1
    print(f"\nOK: {len(rows)} benchmarks within {100 * TOLERANCE:.0f}% of the baseline")
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "collect":
        for k, v in collect(sys.argv[2]).items():
            print(f"{k}={v}")
        return 0
    if cmd == "compare":
        return compare(sys.argv[2], parse_pairs(sys.argv[3:]))
    if cmd == "write":
        unit = "QEMU guest instructions (-icount shift=0)" if "firmware" in sys.argv[2] else "callgrind Ir"
        data = {"about": f"Instruction counts ({unit}) per benchmark; scripts/bench-gate compares against these.",
                "instructions": parse_pairs(sys.argv[3:])}
        with open(sys.argv[2], "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {sys.argv[2]} ({len(data['instructions'])} benchmarks)")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
