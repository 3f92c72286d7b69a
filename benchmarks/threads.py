"""Threads on a shared CPU: one short fixed `zizi train` job under each thread policy.

The job is the demo's fine-tune in small: the shipped 32² demo base, resumed on drawn
"shift" portraits for --kimg (default 0.1 kimg, batch 8, R1 γ 0.1, no path length, no
workers). Each policy runs it in a fresh `python -m zizi train` process, the policies in
turn, --repeats times (the order rotates each repeat), so a load that changes over time
falls on all of them alike. --load N starts N busy-loop processes for the whole
measurement (a controlled load on top of whatever else runs). Usage:

    python benchmarks/threads.py [--kimg 0.1] [--repeats 2] [--load 0 2]
                                 [--policies old zizi 1 2-passive]

Policies (the environment each run gets; anything else in yours is removed first):
  old        torch's default here: OMP_NUM_THREADS = logical CPUs, libgomp's default
             spinning (GOMP_SPINCOUNT=300000, what libgomp does when no policy is set)
  zizi       nothing set: the CLI's own choice (zizi.runtime.thread_policy)
  N          OMP_NUM_THREADS=N, libgomp's default spinning
  N-passive  OMP_NUM_THREADS=N, OMP_WAIT_POLICY=PASSIVE
Printed per run: wall and CPU seconds of the whole command (start-up included), the load
average before it, and what the zizi policy chose.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "zizi" / "demo" / "base-32.safetensors"
OMP_KEYS = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "MKL_NUM_THREADS",
)


def policy_env(name: str, cpus: int) -> dict[str, str]:
    """The OpenMP variables a run under policy `name` gets."""
    if name == "zizi":
        return {}
    if name == "old":
        return {"OMP_NUM_THREADS": str(cpus), "GOMP_SPINCOUNT": "300000"}
    threads, _, wait = name.partition("-")
    if not threads.isdigit() or wait not in ("", "passive"):
        raise SystemExit(f"unknown policy {name!r}: old, zizi, N or N-passive")
    if wait == "passive":
        return {"OMP_NUM_THREADS": threads, "OMP_WAIT_POLICY": "PASSIVE"}
    return {"OMP_NUM_THREADS": threads, "GOMP_SPINCOUNT": "300000"}


def prepare(work: Path) -> Path:
    """64 drawn shift portraits at 32², prepared as `zizi dataset prepare` does."""
    from zizi.demo.portraits import write_set

    write_set(work / "drawn", "shift", 64, seed=0, size=64)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "zizi",
            "dataset",
            "prepare",
            str(work / "drawn"),
            "--out",
            str(work / "data"),
            "--resolution",
            "32",
            "--workers",
            "1",
        ],
        check=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        stdout=subprocess.DEVNULL,
    )
    return work / "data"


def run_once(data: Path, out: Path, kimg: float, env_add: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OMP_KEYS}
    env.update(env_add, PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-c",
        "import sys; from zizi.runtime import choose_threads; p = choose_threads(); "
        "print('policy:', p.reason, file=sys.stderr); from zizi.cli import cli; "
        "cli(prog_name='zizi')",
        "train",
        "--data",
        str(data),
        "--resume",
        str(BASE),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--kimg",
        str(kimg),
        "--batch",
        "8",
        "--set",
        "loss.r1_gamma=0.1",
        "--set",
        "loss.pl_weight=0",
        "--set",
        "data.workers=0",
        "--set",
        f"tick_kimg={kimg}",
        "--set",
        "snap_kimg=1000",
        "--set",
        "frame_kimg=1000",
        "--set",
        "sample_seeds=4",
    ]
    load = os.getloadavg()[0]
    r0 = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"zizi train failed:\n{proc.stderr[-2000:]}")
    chose = next(
        (
            ln.split("policy: ", 1)[1]
            for ln in proc.stderr.splitlines()
            if ln.startswith("policy: ")
        ),
        "?",
    )
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return {"wall": wall, "cpu": cpu, "load": load, "chose": chose}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kimg", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--load",
        type=int,
        nargs="+",
        default=[0],
        help="busy-loop processes to add, one measurement per value",
    )
    ap.add_argument("--policies", nargs="+", default=["old", "zizi", "1", "2-passive"])
    args = ap.parse_args()
    cpus = len(os.sched_getaffinity(0))
    for name in args.policies:
        policy_env(name, cpus)  # refuse a misspelt policy before the long part
    print(
        f"{cpus} CPUs, python {sys.version.split()[0]}, job: zizi train --resume demo base, "
        f"{args.kimg} kimg, batch 8, 32²"
    )
    with tempfile.TemporaryDirectory(prefix="zizi-threads-") as tmp:
        work = Path(tmp)
        data = prepare(work)
        for extra in args.load:
            burners = [
                subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(extra)
            ]
            try:
                time.sleep(2 if extra else 0)
                results: dict[str, list[dict]] = {name: [] for name in args.policies}
                for rep in range(args.repeats):
                    k = rep % len(args.policies)
                    order = args.policies[k:] + args.policies[:k]
                    for name in order:
                        r = run_once(
                            data,
                            work / f"runs-{name}-{rep}-{extra}",
                            args.kimg,
                            policy_env(name, cpus),
                        )
                        results[name].append(r)
                        print(
                            f"  +{extra} busy  {name:<10} wall {r['wall']:6.1f} s  "
                            f"cpu {r['cpu']:6.1f} s  load before {r['load']:4.1f}  "
                            f"[{r['chose']}]",
                            flush=True,
                        )
            finally:
                for p in burners:
                    p.kill()
                    p.wait()
            print(f"load +{extra} busy loops: median wall / cpu seconds")
            for name, rs in results.items():
                print(
                    f"  {name:<10} {statistics.median(r['wall'] for r in rs):6.1f} / "
                    f"{statistics.median(r['cpu'] for r in rs):6.1f}"
                )


if __name__ == "__main__":
    main()
