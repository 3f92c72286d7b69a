"""Data-parallel training over processes with torch.distributed (DDP without the wrapper).

Gradients are averaged explicitly after each phase, which keeps phases that leave some
parameters unused (regularisers) simple and the ranks' weights identical. Processes come
from `torchrun` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT in the environment) or
from `spawn` (`zizi train --gpus N`). Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Dist:
    """The process's place in a torchrun job (a single process when not under torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(dist_info: Dist, device: torch.device, init_method: str | None = None) -> None:
    """Join the process group: NCCL on CUDA, gloo on the CPU."""
    if dist_info.world <= 1 or torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, init_method=init_method or "env://",
                                         rank=dist_info.rank, world_size=dist_info.world)


def sync_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients over all processes in one flat all-reduce.

    Every phase gives every trainable parameter a gradient (zero where the loss does not
    reach it, as the reference does), so the flat layout is the same on every rank.
    """
    params = [p for p in params if p.grad is not None]
    if world <= 1 or not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def all_mean(x: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of `x` over processes (x itself in a single process)."""
    if world <= 1:
        return x
    x = x.clone()
    torch.distributed.all_reduce(x)
    return x / world


def all_gather(x: torch.Tensor, world: int) -> torch.Tensor:
    """[world, *x.shape]: `x` of rank 0, rank 1, ... on every rank ([1, ...] alone)."""
    if world <= 1:
        return x.unsqueeze(0)
    out = [torch.empty_like(x) for _ in range(world)]
    torch.distributed.all_gather(out, x.contiguous())
    return torch.stack(out)


def gather_objects(obj, world: int) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank."""
    if world <= 1:
        return [obj]
    out = [None] * world
    torch.distributed.all_gather_object(out, obj)
    return out
