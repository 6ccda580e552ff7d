#!/usr/bin/env python3
"""The source lines with the most warp-stall samples in an `ncu --page source --csv
--print-source cuda` export (built with -lineinfo), with their share of all samples and of the
executed instructions: where a kernel spends its time, line by line.
    bench/hisa/ncu_source_top.py source.csv [N]
"""
import csv
import sys


def num(s):
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return 0.0


def main(path, n):
    rows, header = [], None
    with open(path, errors="replace") as f:
        for row in csv.reader(f):
            if any(c.startswith("Warp Stall Sampling (All") for c in row):
                header = row
                continue
            if header is not None and len(row) == len(header):
                rows.append(dict(zip(header, row)))
    if not rows:
        print("no source rows")
        return
    samp = next(c for c in header if c.startswith("Warp Stall Sampling (All"))
    inst = next((c for c in header if c.startswith("Instructions Executed")), None)
    src = next((c for c in header if c in ("Source", "Address Source")), header[1])
    line = header[0]
    total_s = sum(num(r[samp]) for r in rows) or 1.0
    total_i = sum(num(r[inst]) for r in rows) if inst else 0.0
    print(f"{'line':>6} {'samples%':>8} {'inst%':>6}  source")
    for r in sorted(rows, key=lambda r: -num(r[samp]))[:n]:
        ip = 100 * num(r[inst]) / total_i if total_i else 0.0
        print(f"{r[line]:>6} {100 * num(r[samp]) / total_s:8.2f} {ip:6.2f}  {r[src].strip()[:110]}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
