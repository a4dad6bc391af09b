#!/usr/bin/env python3
"""Per-request cost by function, from two callgrind profiles of the same
server that differ only in the number of requests (scripts/profile-request.py
--callgrind-out keeps them): inclusive instructions of each function in the
longer run minus the shorter, divided by the difference in requests.

    scripts/profile-diff.py SHORT LONG N [--top 40] [--match REGEX]
"""

import argparse
import re
import subprocess


def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)$", line)
        if m:
            name = re.sub(r"^.*?:", "", m.group(2), count=1) if m.group(2).startswith("???") else m.group(2)
            name = re.sub(r"\s+\[.*\]$", "", name)
            costs[name] = max(costs.get(name, 0), int(m.group(1).replace(",", "")))
    return costs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("short")
    p.add_argument("long")
    p.add_argument("n", type=int, help="how many more requests the long run made")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", default="")
    a = p.parse_args()
    s, l = inclusive(a.short), inclusive(a.long)
    rows = sorted(((l[k] - s.get(k, 0)) / a.n, k) for k in l if re.search(a.match, k))
    for per, name in reversed(rows[-a.top:]):
        print(f"{per:>10,.0f}  {name[:150]}")


if __name__ == "__main__":
    main()
