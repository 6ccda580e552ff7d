#!/usr/bin/env python3
"""Index (among the profiled launches) of the longest kernel launch in an `ncu --csv --metrics
gpu__time_duration.sum` log, then its duration in microseconds: the --launch-skip that
profiles it again. Prints nothing if the log holds no such rows.
    bench/hisa/ncu_longest_launch.py durations.csv
"""
import csv
import sys

SCALE = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "second": 1e6}


def main(path):
    header, best = None, None
    with open(path, errors="replace") as f:
        for row in csv.reader(line for line in f if line.startswith('"')):
            if row and row[0] == "ID":
                header = row
                continue
            if header is None or len(row) != len(header):
                continue
            r = dict(zip(header, row))
            if r.get("Metric Name") != "gpu__time_duration.sum":
                continue
            us = float(r["Metric Value"].replace(",", "")) * SCALE.get(r.get("Metric Unit", ""), 1.0)
            if best is None or us > best[1]:
                best = (int(r["ID"]), us)
    if best is not None:
        print(f"{best[0]} {best[1]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
