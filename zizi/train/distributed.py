"""Data-parallel training over processes with torch.distributed (DDP without the wrapper).

Gradients are averaged explicitly after each phase, which keeps phases that leave some
parameters unused (regularisers) simple and the ranks' weights identical. Processes come
from `torchrun` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT in the environment) or
from `spawn` (`zizi train --gpus N`). Only rank 0 writes files.

Every collective zizi makes goes through this module, the same way on NCCL (CUDA) and
gloo (CPU): tensors live on the process group's device (NCCL cannot reduce a CPU tensor),
objects travel as byte tensors, barriers are all-reduces (no device guessing), and each
operation is waited for with the job's timeout (`zizi train --dist-timeout`). A process
that stopped or hangs so becomes, on the others, a `CollectiveTimeout` naming this
process's rank and the collective that did not complete, instead of a silent hang.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch

from zizi.errors import ZiziError

DEFAULT_TIMEOUT_S = 600.0  # a 1024² step with R1 takes seconds; ten minutes means a hang


class CollectiveTimeout(ZiziError):
    """A collective did not complete on this process within the job's timeout."""


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    timeout_s: float = DEFAULT_TIMEOUT_S  # how long a collective may wait for the others

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env(timeout_s: float = DEFAULT_TIMEOUT_S) -> Dist:
    """The process's place in a torchrun job (a single process when not under torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(timeout_s=timeout_s)
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")), timeout_s)


# The job's collective timeout, set by `init` with the process group it belongs to (which
# is itself process-wide state in torch.distributed).
_timeout_s: list[float] = [DEFAULT_TIMEOUT_S]


def init(dist_info: Dist, device: torch.device, init_method: str | None = None) -> None:
    """Join the process group: NCCL on CUDA, gloo on the CPU."""
    if dist_info.world <= 1 or torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    _timeout_s[0] = float(dist_info.timeout_s)
    # the group's own timeout a little longer than ours, so zizi's error (which names the
    # collective) comes first rather than the backend's watchdog
    torch.distributed.init_process_group(
        backend,
        init_method=init_method or "env://",
        rank=dist_info.rank,
        world_size=dist_info.world,
        timeout=timedelta(seconds=dist_info.timeout_s + 60),
    )


def _device() -> torch.device:
    """Where the group's tensors must live: this process's GPU for NCCL, else the CPU."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _wait(work: Any, what: str) -> None:
    """Wait for an asynchronous collective; a timeout or a lost peer becomes one clear error."""
    timeout = _timeout_s[0]
    try:
        ok = work.wait(timeout=timedelta(seconds=timeout))
    except Exception as e:  # gloo and NCCL raise RuntimeError / DistBackendError subclasses
        raise _timeout_error(what, str(e)) from e
    if ok is False:
        raise _timeout_error(what, "wait returned False")


def _timeout_error(what: str, why: str) -> CollectiveTimeout:
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    why = why.strip().splitlines()[0][:200] if why.strip() else "no reason given"
    return CollectiveTimeout(
        f"process {rank} of {world}: the collective '{what}' did not complete within "
        f"{_timeout_s[0]:g} s ({why}); another process has stopped or hangs (look for its "
        "own error above), or the GPUs lost contact; if a step is legitimately slower, raise "
        "--dist-timeout"
    )


def all_reduce_(x: torch.Tensor, what: str) -> torch.Tensor:
    """Sum `x` over processes in place (it must be on the group's device)."""
    _wait(torch.distributed.all_reduce(x, async_op=True), what)
    return x


def broadcast_(x: torch.Tensor, what: str, src: int = 0) -> torch.Tensor:
    """Overwrite `x` with process `src`'s value, in place."""
    _wait(torch.distributed.broadcast(x, src=src, async_op=True), what)
    return x


def barrier(what: str) -> None:
    """Wait until every process gets here (an all-reduce: no per-backend device rules)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        all_reduce_(torch.zeros(1, device=_device()), what)


def any_true(flag: bool, world: int, what: str) -> bool:
    """True on every process when `flag` is true on any (e.g. a stop request)."""
    if world <= 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_device())
    return bool(all_reduce_(t, what).item() > 0)


def broadcast_object(obj: Any, world: int, what: str, src: int = 0) -> Any:
    """Process `src`'s `obj` on every process (pickled, as a byte tensor)."""
    if world <= 1:
        return obj
    data = pickle.dumps(obj) if torch.distributed.get_rank() == src else b""
    size = broadcast_(
        torch.tensor([len(data)], dtype=torch.int64, device=_device()), f"{what} (size)", src
    )
    buf = torch.zeros(int(size.item()), dtype=torch.uint8, device=_device())
    if data:
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    broadcast_(buf, what, src)
    return pickle.loads(buf.cpu().numpy().tobytes())


def sync_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients over all processes in one flat all-reduce.

    Every phase gives every trainable parameter a gradient (zero where the loss does not
    reach it, as the reference does), so the flat layout is the same on every rank.
    """
    params = [p for p in params if p.grad is not None]
    if world <= 1 or not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    all_reduce_(flat, "gradient all-reduce")
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_mean(x: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of `x` over processes (x itself in a single process)."""
    if world <= 1:
        return x
    return all_reduce_(x.clone(), "mean over processes") / world


def all_gather(
    x: torch.Tensor, world: int, what: str = "gather of per-round values"
) -> torch.Tensor:
    """[world, *x.shape]: `x` of rank 0, rank 1, ... on every rank ([1, ...] alone);
    gathered on the group's device, bounded by the job's timeout, returned on x's device."""
    if world <= 1:
        return x.unsqueeze(0)
    src = x.detach().contiguous().to(_device())
    out = [torch.empty_like(src) for _ in range(world)]
    _wait(torch.distributed.all_gather(out, src, async_op=True), what)
    return torch.stack(out).to(x.device)


def gather_objects(obj, world: int, what: str = "gather of per-process state") -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (pickled, as byte tensors)."""
    if world <= 1:
        return [obj]
    dev = _device()
    data = pickle.dumps(obj)
    size = torch.tensor([len(data)], dtype=torch.int64, device=dev)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    _wait(torch.distributed.all_gather(sizes, size, async_op=True), f"{what} (sizes)")
    longest = int(max(s.item() for s in sizes))
    buf = torch.zeros(longest, dtype=torch.uint8, device=dev)
    buf[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    bufs = [torch.zeros_like(buf) for _ in range(world)]
    _wait(torch.distributed.all_gather(bufs, buf, async_op=True), what)
    return [pickle.loads(b[: int(n.item())].cpu().numpy().tobytes()) for b, n in zip(bufs, sizes)]
