"""Peak memory of `zizi dataset prepare` refusing a huge (sparse) file in a source folder.

    python benchmarks/hostile_sources.py [--gib 6]

Builds a source folder with a few small photos and a sparse file of --gib GiB named
`huge.jpg`, then runs `zizi dataset prepare` in a child process twice: with the default
size limit (the file is skipped as "too large" without being read) and with a limit above
its size (the file is hashed in 1 MiB pieces and decoded from disk, then reported as not
an image). Prints the child's peak resident memory (ru_maxrss) and wall time for each.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_run(args: list[str]) -> tuple[float, float, str]:
    code = (
        "import resource, sys\n"
        "from zizi.cli import cli\n"
        "try:\n"
        "    cli(args=sys.argv[1:], prog_name='zizi', standalone_mode=False)\n"
        "finally:\n"
        "    print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "file=sys.stderr)\n"
    )
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wall = time.perf_counter() - t
    peak = next(
        int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("PEAK_KB")
    )
    return peak / 1024, wall, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=6.0)
    a = ap.parse_args()
    from tests.data.messy import smooth_noise

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for i in range(4):
            smooth_noise(i, (96, 96)).save(src / f"p{i}.png")
        with open(src / "huge.jpg", "wb") as f:
            f.truncate(int(a.gib * 2**30))
        base = ["dataset", "prepare", str(src), "--resolution", "64", "--workers", "1"]
        for label, extra in (
            ("default limit (skipped unread)", []),
            ("limit above size (streamed)", ["--max-file-mb", str(int(a.gib * 1024) + 1)]),
        ):
            out = Path(tmp) / f"ds{len(extra)}"
            mb, wall, stdout = peak_run([*base, "--out", str(out), *extra])
            reason = next((ln.strip() for ln in stdout.splitlines() if "huge.jpg" in ln), "?")
            print(f"{label:<32} peak {mb:7.1f} MiB  {wall:6.1f} s  | {reason}")
    print(
        f"(Python {sys.version.split()[0]}, {a.gib} GiB sparse file; "
        f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB here)"
    )


if __name__ == "__main__":
    main()
