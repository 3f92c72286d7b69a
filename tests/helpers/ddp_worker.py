"""A training process for the DDP tests (spawned; must live in an importable module)."""

from __future__ import annotations

import os
from pathlib import Path


def train_rank(
    rank: int, world: int, port: int, ckpt: str, data: str, out: str, sets: list[str], kimg: float
) -> None:
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
        job = TrainJob(
            out=Path(out) / "runs",
            data=Path(data),
            resume=ckpt,
            assignments=sets,
            flags={"kimg": kimg},
        )
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


def collectives_rank(rank: int, world: int, port: int, out: str, hang: bool) -> None:
    """Exercise zizi's collectives on gloo; with `hang`, process 1 never joins the gradient
    all-reduce, and process 0 records the error it gets instead of hanging."""
    import json
    import time

    import torch

    from zizi.train import distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    distributed.init(distributed.Dist(rank, world, rank, timeout_s=3.0), torch.device("cpu"))
    result: dict = {}
    try:
        result["gathered"] = distributed.gather_objects(
            {"rank": rank, "pad": "x" * rank * 100}, world
        )
        result["broadcast"] = distributed.broadcast_object(f"from {rank}", world, "test", src=1)
        result["any"] = distributed.any_true(rank == 1, world, "test flag")
        distributed.barrier("test barrier")
        if hang and rank == 1:
            time.sleep(8)  # never joins the all-reduce below
            return
        p = torch.nn.Parameter(torch.ones(3))
        p.grad = torch.full((3,), float(rank))
        distributed.sync_grads([p], world)
        result["grad"] = p.grad.tolist()
    except distributed.CollectiveTimeout as e:
        result["error"] = str(e)
    finally:
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))
        if "error" not in result:
            torch.distributed.destroy_process_group()


def source_once_rank(rank: int, world: int, port: int, out: str) -> None:
    """Process 0 fetches the source checkpoint (slowly); process 1 must find it there."""
    import json
    import time

    import torch

    from zizi.train import distributed, setup

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist = distributed.Dist(rank, world, rank, timeout_s=60.0)
    distributed.init(dist, torch.device("cpu"))
    marker = Path(out, "fetched")

    def load_source(job, seed):
        if rank == 0:
            time.sleep(2)  # a download
            marker.write_text("done")
            return "fetched"
        return "read " + marker.read_text()  # raises if process 0 has not written it yet

    setup.load_source = load_source
    try:
        got = setup._load_source_once(None, 0, dist)
        Path(out, f"rank{rank}.json").write_text(json.dumps(got))
    finally:
        torch.distributed.destroy_process_group()
