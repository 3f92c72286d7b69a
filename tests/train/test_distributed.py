"""zizi's collectives: one path for NCCL and gloo, and a hang that becomes a named error.

Run here on gloo (the CPU); every collective goes through zizi.train.distributed, whose
tensors live on the group's device and whose waits carry the job's timeout, so the NCCL
path differs only in that device.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from tests.helpers.ddp_worker import collectives_rank

ZIZI = Path(__file__).resolve().parents[2] / "zizi"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _results(tmp_path, hang: bool) -> list[dict]:
    mp.spawn(collectives_rank, args=(2, _port(), str(tmp_path), hang), nprocs=2, join=True)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow  # two spawned processes: about 30 s on a loaded 2-core machine
@pytest.mark.parametrize("hang", [False, True])
def test_collectives_agree_and_a_hang_is_a_named_error(tmp_path, hang):
    r0, r1 = _results(tmp_path, hang)
    for r in (r0, r1):
        assert r["gathered"] == [{"rank": 0, "pad": ""}, {"rank": 1, "pad": "x" * 100}]
        assert r["broadcast"] == "from 1" and r["any"] is True
    if not hang:
        assert r0["grad"] == r1["grad"] == [0.5, 0.5, 0.5]  # the mean of 0 and 1
        return
    assert re.search(
        r"process 0 of 2: the collective 'gradient all-reduce' did not complete "
        r"within 3 s .*--dist-timeout",
        r0["error"],
    ), r0["error"]


def test_every_collective_goes_through_the_distributed_module():
    """No backend-specific call elsewhere: all-reduces, broadcasts, gathers and barriers
    are made (with the group's device and the job's timeout) in one module."""
    calls = re.compile(
        r"torch\.distributed\.(all_reduce|broadcast|all_gather|barrier|"
        r"all_gather_object|broadcast_object_list|reduce|gather|scatter)\b"
    )
    offenders = [
        f"{p.relative_to(ZIZI)}:{i}"
        for p in ZIZI.rglob("*.py")
        if p.name != "distributed.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if calls.search(line)
    ]
    assert offenders == []


@pytest.mark.slow  # two spawned processes
def test_only_process_0_fetches_the_source(tmp_path):
    from tests.helpers.ddp_worker import source_once_rank

    mp.spawn(source_once_rank, args=(2, _port(), str(tmp_path)), nprocs=2, join=True)
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert got == ["fetched", "read done"]
