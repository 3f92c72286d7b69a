"""Runtime settings chosen once, by the CLI, never at import time."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Literal

from zizi.errors import ZiziError

DeviceChoice = Literal["auto", "cpu", "cuda"]


def select_device(choice: str = "auto"):
    """The torch device for `--device auto|cpu|cuda[:N]`; configures it for speed."""
    import torch

    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ZiziError(
                "--device cuda was asked for, but torch sees no CUDA GPU "
                "(run `zizi doctor`, or use --device cpu)"
            )
        # TF32 matmuls/convs: ~free speed on Ampere+, well inside GAN noise.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    elif choice != "cpu":
        raise ZiziError(f"unknown device {choice!r}; use auto, cpu or cuda")
    return torch.device(choice)


def deterministic_kernels(device) -> None:
    """Pick convolution kernels by rule, not by timing (cudnn.benchmark), so that every
    process draws the same pixels for the same frame: a render split over many GPUs must
    equal a one-process render, frame for frame."""
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


# --------------------------------------------------------------------------- CPU threads
#
# On a CPU shared with other jobs, torch's default (one OpenMP thread per logical CPU,
# libgomp spinning ~300k rounds at every barrier) degrades badly: each op's threads wait
# at a barrier for a partner that the scheduler has put aside, and the waiter's spinning
# takes the very core the partner needs. The demo's fine-tune took 54 minutes on a loaded
# 2-core machine against ~3 quiet. So the CLI picks, before torch loads OpenMP: as many
# threads as there are idle physical cores (at least one), and waiting threads that sleep
# (OMP_WAIT_POLICY=PASSIVE) so a machine that fills up later costs a wake-up, not a core.
# A person's own OMP_NUM_THREADS / OMP_WAIT_POLICY / GOMP_SPINCOUNT always stand.

WAIT_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")  # any one = the user chose


@dataclass(frozen=True)
class CpuFacts:
    """What the thread policy needs to know about this machine, read once."""

    cpus: int  # logical CPUs this process may run on (its affinity)
    cores: int  # physical cores among them (SMT siblings counted once)
    machine_cpus: int  # CPUs the load average is counted over (the whole machine)
    load: float  # 1-minute load average: runnable jobs, the machine's
    quota: float | None = None  # cgroup CPU quota in CPUs (a container's --cpus); None: none


@dataclass(frozen=True)
class ThreadPolicy:
    """The settings chosen for this process: environment to add, and why."""

    env: dict[str, str]  # variables to set before torch loads (never one the user set)
    threads: int  # torch's intra-op threads (the user's OMP_NUM_THREADS, if set)
    reason: str  # one line for `zizi doctor` and for logs


def thread_policy(environ: Mapping[str, str], facts: CpuFacts) -> ThreadPolicy:
    """Threads and OpenMP wait policy for a machine that others may be using.

    Pure: the environment and the machine's facts in, the settings out. Threads = the
    physical cores this process may use (within a container's quota) less the load other
    jobs put on them, rounded, at least 1. The load average counts the whole machine, so
    it is scaled to our share of its CPUs (a container pinned to 2 of 64 CPUs sees the
    host's load). Waiting threads sleep unless the user chose a wait policy."""
    usable = max(1, min(facts.cpus, facts.cores))
    if facts.quota is not None:
        usable = max(1, min(usable, math.ceil(facts.quota - 1e-9)))
    env: dict[str, str] = {}
    user_threads = _positive_int(environ.get("OMP_NUM_THREADS", ""))
    if user_threads is not None:
        threads, why = user_threads, f"OMP_NUM_THREADS={user_threads} (yours)"
    else:
        others = max(0.0, facts.load) * facts.cpus / max(1, facts.machine_cpus)
        threads = max(1, min(usable, math.floor(usable - others + 0.5)))
        why = (
            f"{threads} thread(s): {usable} usable core(s), load {facts.load:.1f} "
            f"on {facts.machine_cpus} CPU(s)"
        )
        env["OMP_NUM_THREADS"] = str(threads)
    if any(environ.get(k) for k in WAIT_ENV):
        why += "; OpenMP wait policy yours"
    else:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        why += "; idle threads sleep (OMP_WAIT_POLICY=PASSIVE)"
    return ThreadPolicy(env=env, threads=threads, reason=why)


def _positive_int(text: str) -> int | None:
    """OMP_NUM_THREADS as OpenMP reads it: '4', or a nested list '4,2' (its first level)."""
    head = text.strip().split(",")[0].strip()
    return int(head) if head.isdigit() and int(head) > 0 else None


def cpu_facts() -> CpuFacts:
    """This machine's CPUs, cores, cgroup quota and load, from the OS (Linux in full;
    elsewhere the logical CPU count stands for both and the load is read if it can be)."""
    machine = os.cpu_count() or 1
    try:
        mine = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = list(range(machine))
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return CpuFacts(
        cpus=len(mine),
        cores=_physical_cores(mine),
        machine_cpus=machine,
        load=load,
        quota=_cgroup_quota(),
    )


def _physical_cores(cpus: list[int]) -> int:
    """Distinct cores among `cpus`: logical CPUs sharing a core list the same siblings."""
    groups = set()
    for cpu in cpus:
        path = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        try:
            with open(path) as f:
                groups.add(f.read().strip())
        except OSError:
            groups.add(str(cpu))  # unknown topology: count it as its own core
    return max(1, len(groups))


def _cgroup_quota() -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v2 `cpu.max`, v1 cfs files)."""
    for quota_file, period_file in (
        ("/sys/fs/cgroup/cpu.max", None),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    ):
        try:
            with open(quota_file) as f:
                fields = f.read().split()
            if period_file is not None:
                with open(period_file) as f:
                    fields.append(f.read().strip())
        except OSError:
            continue
        try:
            quota, period = float(fields[0]), float(fields[1])
        except (ValueError, IndexError):  # "max 100000": no quota
            return None
        return quota / period if quota > 0 and period > 0 else None
    return None


def choose_threads(environ: MutableMapping[str, str] | None = None) -> ThreadPolicy:
    """Apply `thread_policy` to this process: call it before torch is imported (OpenMP
    reads its variables once, when torch loads it). The CLI entry does; the library never
    does on import. If torch is already loaded, the thread count still takes effect."""
    environ = os.environ if environ is None else environ
    policy = thread_policy(environ, cpu_facts())
    environ.update(policy.env)  # only names the user left unset (or unusable: OMP's own rule)
    torch = sys.modules.get("torch")
    if torch is not None and "OMP_NUM_THREADS" in policy.env:
        torch.set_num_threads(policy.threads)
    return policy
