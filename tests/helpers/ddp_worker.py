"""A training process for the DDP tests (spawned; must live in an importable module)."""

from __future__ import annotations

import os
from pathlib import Path


def train_rank(rank: int, world: int, port: int, ckpt: str, data: str, out: str,
               sets: list[str], kimg: float) -> None:
    import torch

    from zizi.train import distributed
    from zizi.train.loop import train
    from zizi.train.setup import TrainJob, prepare

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist = distributed.Dist(rank, world, rank)
    cpu = torch.device("cpu")
    distributed.init(dist, cpu)
    try:
        job = TrainJob(out=Path(out) / "runs", data=Path(data), resume=ckpt, assignments=sets,
                       flags={"kimg": kimg})
        p = prepare(job, cpu, dist)
        train(p.trainer, p.dataset, p.run)
        torch.save(trainer_state(p.trainer), Path(out) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def trainer_state(t) -> dict:
    """G, D and G_ema tensors plus the path-length mean of a trainer, under one flat name space."""
    state = {f"G.{k}": v for k, v in t.G.state_dict().items()}
    state.update({f"D.{k}": v for k, v in t.D.state_dict().items()})
    state.update({f"G_ema.{k}": v for k, v in t.G_ema.state_dict().items()})
    state["pl_mean"] = t.pl_mean
    return state
