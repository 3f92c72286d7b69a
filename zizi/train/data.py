"""The data order: an endless, seeded stream of dataset indices that can resume anywhere.

Epoch e is a permutation drawn from a generator seeded with (seed, e); the stream is the
epochs one after another. A position in the stream (images drawn so far) is all a
snapshot needs to continue with exactly the same minibatches. Each global minibatch is
split into rounds dealt out to the ranks in turn, so rank r of W sees its own shard of
every batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of range(n) used in epoch `epoch`."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (1 << 63))
    return torch.randperm(n, generator=g)


def stream_indices(n: int, seed: int, start: int, count: int) -> list[int]:
    """Dataset indices at stream positions start .. start+count−1."""
    out: list[int] = []
    pos = start
    while len(out) < count:
        epoch, offset = divmod(pos, n)
        order = epoch_order(n, seed, epoch)
        take = min(n - offset, count - len(out))
        out.extend(order[offset : offset + take].tolist())
        pos += take
    return out


class OrderSampler(torch.utils.data.Sampler):
    """Yields this rank's index lists, one per global minibatch, from stream position `start`.

    The global minibatch is cut into rounds of `round_size` images (gradient accumulation);
    rank k takes rounds k, k + N, k + 2N, ... (zizi.train.trainer's round order)."""

    def __init__(
        self,
        n: int,
        batch: int,
        seed: int,
        start: int = 0,
        rank: int = 0,
        world: int = 1,
        round_size: int | None = None,
    ) -> None:
        if batch % world:
            raise ValueError(f"batch {batch} is not divisible by {world} processes")
        round_size = round_size or batch // world
        if batch % (round_size * world):
            raise ValueError(f"rounds of {round_size} do not split {batch} over {world} processes")
        self.n, self.batch, self.seed, self.start = n, batch, seed, start
        self.rank, self.world, self.round_size = rank, world, round_size

    def __iter__(self) -> Iterator[list[int]]:
        pos = self.start
        b = self.round_size
        while True:
            idx = stream_indices(self.n, self.seed, pos, self.batch)
            rounds = range(self.rank, self.batch // b, self.world)
            yield [i for v in rounds for i in idx[v * b : (v + 1) * b]]
            pos += self.batch


def batches(
    dataset,
    batch: int,
    seed: int,
    start: int,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
    pin: bool = False,
    round_size: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images [b, C, H, W] in [−1, 1], labels [b, c_dim]) for each global minibatch from
    `start`."""
    sampler = OrderSampler(len(dataset), batch, seed, start, rank, world, round_size)
    # The loader's own generator: otherwise it draws its worker seed from the global RNG,
    # and a resumed run would not continue the same random stream.
    loader_gen = torch.Generator().manual_seed(seed + start + rank)
    workers = usable_workers(workers)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
        generator=loader_gen,
    )
    return iter(loader)


def usable_workers(workers: int) -> int:
    """At most one loader worker per CPU this process may run on. The presets ask for a
    workstation's few workers; on a 2-core laptop more workers than cores only contend with
    the training step for them, and torch prints a long warning at every start. Which
    worker decodes an image never changes the image or the order (the sampler decides)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        cpus = os.cpu_count() or 1
    return max(0, min(workers, cpus))
