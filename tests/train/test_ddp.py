"""DDP: two gloo processes stay identical and equal one process with the same global batch."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from tests.helpers.ddp_worker import train_rank, trainer_state
from tests.helpers.tiny import TINY_SETTINGS
from zizi.train.loop import train
from zizi.train.setup import TrainJob, prepare


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process(tmp_path, tiny_data, tiny_ckpt):
    sets = [*TINY_SETTINGS, "batch_gpu=2"]  # global batch 4: two rounds of 2 either way
    kimg = 0.012  # 3 steps: every phase, regularisers included
    mp.spawn(
        train_rank,
        args=(2, _port(), str(tiny_ckpt), str(tiny_data), str(tmp_path), sets, kimg),
        nprocs=2,
        join=True,
    )
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks differ in {k}"

    p = prepare(
        TrainJob(
            out=tmp_path / "single",
            data=tiny_data,
            resume=str(tiny_ckpt),
            assignments=sets,
            flags={"kimg": kimg},
        ),
        torch.device("cpu"),
    )
    train(p.trainer, p.dataset, p.run)
    single = trainer_state(p.trainer)
    for k in r0:
        assert torch.allclose(r0[k], single[k], rtol=0, atol=1e-6), (
            f"DDP and one process differ in {k}"
        )
    exact = sum(torch.equal(r0[k], single[k]) for k in r0)
    assert exact == len(r0), f"only {exact}/{len(r0)} tensors are bit-identical"
    # only rank 0 wrote a run folder
    assert len(list((tmp_path / "runs").iterdir())) == 1


@pytest.mark.slow
def test_two_processes_with_two_rounds_each_equal_one_process(tmp_path, tiny_data, tiny_ckpt):
    # Global batch 8 in rounds of 2: each process runs two rounds, dealt out in turn (rank k
    # takes rounds k and k + 2), and the path-length mean advances round by round across
    # the processes as it does in one process with four rounds. With a mis-ordered mean the
    # G weights differ by ~2e-3 after these 3 steps.
    sets = [*TINY_SETTINGS, "batch=8", "batch_gpu=2"]
    kimg = 0.024  # 3 steps: every phase, regularisers included
    mp.spawn(
        train_rank,
        args=(2, _port(), str(tiny_ckpt), str(tiny_data), str(tmp_path), sets, kimg),
        nprocs=2,
        join=True,
    )
    r0 = torch.load(tmp_path / "rank0.pt")
    p = prepare(
        TrainJob(
            out=tmp_path / "single",
            data=tiny_data,
            resume=str(tiny_ckpt),
            assignments=sets,
            flags={"kimg": kimg},
        ),
        torch.device("cpu"),
    )
    train(p.trainer, p.dataset, p.run)
    single = trainer_state(p.trainer)
    # equal up to the order of float additions (rounds summed per process, then over them)
    worst = max((float((r0[k] - single[k]).abs().max()), k) for k in r0)
    assert worst[0] < 1e-6, f"DDP and one process differ by {worst[0]:.3g} in {worst[1]}"
