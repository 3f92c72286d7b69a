"""Peak memory of refusing crafted files and run folders (issues #13 and #21).

    python benchmarks/hostile.py            # 4 GiB zip bombs, as in the issue
    python benchmarks/hostile.py --bomb-gib 1
    python benchmarks/hostile.py --bomb-gib 1 --only Inception,"run folder"   # issue #21

Each crafted file (tests/helpers/hostile.py) is handed to the zizi command a person would
run, in a fresh interpreter; the figure is that process's peak resident memory (VmHWM)
above an interpreter with torch and zizi already loaded. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.hostile import crafted_cases, measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bomb-gib", type=float, default=4.0, help="declared size of the zip bombs")
    ap.add_argument("--only", default="", help="comma-separated parts of case names to run")
    args = ap.parse_args()
    only = [x for x in args.only.split(",") if x]
    print(f"# {platform.machine()} {platform.python_version()}; peak above baseline, MiB")
    print("| crafted file | command | file MiB | refused | peak above baseline MiB |")
    print("|---|---|---:|---|---:|")
    worst = 0.0
    for name, (build, command) in crafted_cases(args.bomb_gib).items():
        if only and not any(x in name for x in only):
            continue
        with tempfile.TemporaryDirectory() as d:
            f = build(Path(d))
            r = measure(*[c.format(f=f, d=d) for c in command])
            worst = max(worst, r["extra_mib"])
            print(
                f"| {name} | `zizi {command[0]}` | {f.stat().st_size / 2**20:.1f} | "
                f"{'yes' if r['code'] == 1 else 'NO'} | {r['extra_mib']:.1f} |",
                flush=True,
            )
    print(f"\nworst: {worst:.1f} MiB")


if __name__ == "__main__":
    main()
