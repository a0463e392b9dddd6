#!/usr/bin/env python3
"""Median times (and throughput) of the criterion micro-benchmarks, from target/criterion.
usage: criterion-table.py CRITERION_DIR [BASELINE ...]   (default baselines: new)"""
import json, os, sys
root = sys.argv[1]
baselines = sys.argv[2:] or ["new"]
rows = []
for group in sorted(os.listdir(root)):
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir) or group == "report":
        continue
    for bench in sorted(os.listdir(gdir)):
        cells = []
        for b in baselines:
            est = os.path.join(gdir, bench, b, "estimates.json")
            bm = os.path.join(gdir, bench, b, "benchmark.json")
            if not os.path.exists(est):
                cells.append("-")
                continue
            med = json.load(open(est))["median"]["point_estimate"]  # ns
            thr = json.load(open(bm)).get("throughput") or {}
            cell = f"{med/1000:.3f} us" if med >= 1000 else f"{med:.1f} ns"
            if "Bytes" in thr:
                cell += f" ({thr['Bytes']/med:.2f} GB/s)"
            elif "Elements" in thr:
                cell += f" ({med/thr['Elements']:.1f} ns/elem)"
            cells.append(cell)
        rows.append(f"| {group}/{bench} | " + " | ".join(cells) + " |")
print("| benchmark | " + " | ".join(baselines) + " |")
print("|---|" + "---|" * len(baselines))
print("\n".join(rows))
