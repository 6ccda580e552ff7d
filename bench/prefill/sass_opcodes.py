#!/usr/bin/env python3
"""Per-opcode warp-instruction totals (and the hottest SASS lines by stall samples) from the
gzipped CSV that bench/prefill/profile_run.sh writes (ncu --page source --csv --print-source sass).

    python3 bench/prefill/sass_opcodes.py prof_flat_sass.csv.gz [hottest lines]
"""
import csv, gzip, sys, collections, re
rows = list(csv.reader(gzip.open(sys.argv[1], 'rt')))
hdr = rows[1]
iE = hdr.index("Instructions Executed"); iS = hdr.index("Source"); iW = hdr.index("Warp Stall Sampling (All Samples)")
ops = collections.Counter(); stall = collections.Counter(); tot = 0
lines = []
for r in rows[2:]:
    if len(r) <= iE: continue
    try: n = int(r[iE].replace(',', ''))
    except: continue
    src = r[iS].strip()
    op = re.sub(r'^@!?U?P\w+\s+', '', src).split(' ')[0]
    ops[op] += n; stall[op] += int(r[iW].replace(',', '') or 0); tot += n
    lines.append((n, int(r[iW] or 0), src))
print("total warp instructions", tot)
for op, n in ops.most_common(30): print(f"{op:24s} {n:14,d} {100*n/tot:5.1f}%  stall samples {stall[op]}")
if len(sys.argv) > 2:
    print("\nhottest lines by samples:")
    for n, s, src in sorted(lines, key=lambda x: -x[1])[:int(sys.argv[2])]: print(f"{n:12,d} {s:7d}  {src}")
