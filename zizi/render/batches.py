"""One way of turning latents into images, shared by `zizi generate` and `zizi render`.

`images_for_seeds` is `generate`'s batch loop; `synthesize` is the single step both use:
latents (z or w) in, uint8 pixels out, with the noise fixed by an explicit generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from zizi.nets.generator import Generator
    from zizi.render.images import HostImages

NOISE_SEED = 0  # seed of the per-call generator for --noise-mode random (same noise every frame)


def one_hot(n: int, c_dim: int, class_idx: int | None, device) -> torch.Tensor | None:
    """The label batch for a conditional net ([n, c_dim] one-hot), None for an unconditional one."""
    import torch

    if c_dim == 0:
        return None
    c = torch.zeros(n, c_dim, device=device)
    c[:, class_idx or 0] = 1
    return c


def synthesize(
    G: Generator,
    *,
    z: torch.Tensor | None = None,
    ws: torch.Tensor | None = None,
    class_idx: int | None = None,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    noise_seed: int = NOISE_SEED,
    deferred: bool = False,
) -> np.ndarray | HostImages:
    """[N, z_dim] z (mapped, truncated) or [N, num_ws, w_dim] ws -> [N, H, W, C] uint8.

    `deferred=True` returns a `HostImages` instead: the copy to the host is queued, not
    waited for, so a render's producer can start the next frame at once.

    Noise for `noise_mode="random"` comes from a generator seeded with `noise_seed` on
    every call, so the same latents give the same picture (no flicker between frames).
    """
    import torch

    from zizi.render.images import HostImages, to_uint8

    dev = next(G.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(noise_seed)
    with torch.no_grad():
        if ws is None:
            assert z is not None
            c = one_hot(len(z), G.c_dim, class_idx, dev)
            ws = G.mapping(z.to(dev), c, truncation_psi, truncation_cutoff)
        img = G.synthesis(ws.to(dev), noise_mode=noise_mode, generator=gen)
    return HostImages(img) if deferred else to_uint8(img)


def images_for_seeds(
    G: Generator,
    seeds: list[int],
    *,
    batch: int = 1,
    class_idx: int | None = None,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Yield (seeds, [n, H, W, C] uint8) batch by batch; nothing is kept between batches.

    The noise generator is created once per call and shared by the batches, as the
    reference tools do, so `--noise-mode random` gives the same images for the same call.
    """
    import torch

    from zizi.latents import z_for_seeds
    from zizi.render.images import to_uint8

    dev = next(G.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(NOISE_SEED)
    done = 0
    for i in range(0, len(seeds), batch):
        chunk = seeds[i : i + batch]
        z = z_for_seeds(chunk, G.z_dim).to(dev)
        c = one_hot(len(chunk), G.c_dim, class_idx, dev)
        with torch.no_grad():
            img = G(
                z,
                c,
                truncation_psi=truncation_psi,
                truncation_cutoff=truncation_cutoff,
                noise_mode=noise_mode,
                generator=gen,
            )
        done += len(chunk)
        yield chunk, to_uint8(img)
        if progress is not None:
            progress(done, len(seeds))
