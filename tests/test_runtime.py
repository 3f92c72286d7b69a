"""The CPU thread policy: threads from idle physical cores, sleeping waits, yours first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zizi.runtime import CpuFacts, choose_threads, thread_policy

ROOT = Path(__file__).resolve().parent.parent


def facts(cpus=2, cores=None, machine=None, load=0.0, quota=None) -> CpuFacts:
    return CpuFacts(
        cpus=cpus,
        cores=cpus if cores is None else cores,
        machine_cpus=cpus if machine is None else machine,
        load=load,
        quota=quota,
    )


@pytest.mark.parametrize(
    "f, threads",
    [
        (facts(cpus=2, load=0.0), 2),  # quiet: every core
        (facts(cpus=2, load=0.4), 2),  # a little noise: still every core
        (facts(cpus=2, load=1.0), 1),  # one core busy elsewhere: the other one
        (facts(cpus=2, load=13.0), 1),  # the shared 2-core machine of #27: one thread
        (facts(cpus=8, load=3.2), 5),  # idle cores, rounded
        (facts(cpus=8, cores=4, load=0.0), 4),  # SMT: never more than physical cores
        (facts(cpus=64, load=0.0, quota=2.0), 2),  # a container's --cpus 2 on a big host
        (facts(cpus=64, load=0.0, quota=1.5), 2),  # a fractional quota rounds up
        (facts(cpus=2, machine=64, load=32.0), 1),  # pinned to 2 of 64 half-busy CPUs: 1 busy
        (facts(cpus=2, machine=64, load=3.0), 2),  # the host's load is mostly elsewhere
    ],
)
def test_threads_from_idle_physical_cores(f, threads):
    p = thread_policy({}, f)
    assert p.threads == threads
    assert p.env == {"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("value, threads", [("3", 3), ("1", 1), ("4,2", 4)])
def test_users_thread_count_stands(value, threads):
    p = thread_policy({"OMP_NUM_THREADS": value}, facts(cpus=2, load=13.0))
    assert p.threads == threads and "OMP_NUM_THREADS" not in p.env
    assert "yours" in p.reason


@pytest.mark.parametrize("value", ["", "0", "many"])
def test_an_unusable_thread_count_is_chosen_for(value):
    # OpenMP ignores these too; zizi's choice replaces what would be torch's default
    p = thread_policy({"OMP_NUM_THREADS": value}, facts(cpus=2, load=0.0))
    assert p.env["OMP_NUM_THREADS"] == "2"


@pytest.mark.parametrize("key", ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"])
def test_users_wait_policy_stands(key):
    p = thread_policy({key: "ACTIVE" if key == "OMP_WAIT_POLICY" else "1000"}, facts())
    assert "OMP_WAIT_POLICY" not in p.env and p.threads == 2


def test_choose_threads_sets_only_what_is_missing():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    p = choose_threads(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's, untouched
    assert env["OMP_NUM_THREADS"] == str(p.threads) and p.threads >= 1
    env = {"OMP_NUM_THREADS": "1", "GOMP_SPINCOUNT": "0"}
    assert choose_threads(env).env == {} and env == {"OMP_NUM_THREADS": "1", "GOMP_SPINCOUNT": "0"}


def test_the_cli_entry_chooses_before_torch_loads():
    """`zizi` (main) sets the variables before torch is imported, so OpenMP reads them."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
    }
    env["PYTHONPATH"] = str(ROOT)
    code = (
        "import os, sys; from zizi.cli import main; sys.argv = ['zizi', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import torch\n"
        "print(os.environ['OMP_NUM_THREADS'], os.environ['OMP_WAIT_POLICY'], "
        "torch.get_num_threads())"
    )
    out = (
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        .stdout.splitlines()[-1]
        .split()
    )
    assert out[1] == "PASSIVE"
    assert out[0] == out[2] and int(out[0]) >= 1  # torch runs what was chosen
