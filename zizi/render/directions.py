"""Latent directions without labels: SeFa closed-form factorisation, and the fine-tune's shift.

SeFa (Shen & Zhou 2021, "Closed-Form Factorization of Latent Semantics in GANs"): every
modulated convolution turns w into per-channel styles with an affine map A (s = A w + b).
The directions n in W that change the styles most are the maximisers of |A n|, i.e. the
top right-singular vectors of A; for several layers, of their A's stacked row-wise. As in
SeFa and rosinality's `closed_form_factorization.py`, the toRGB affines are left out and
the stored weights are used as they are (every affine shares one runtime gain, which
scales the singular values and leaves the vectors alone). Nothing here looks at what the
faces are: no classifier of anyone is involved.

A directions file is a safetensors file: `directions` [K, w_dim] (unit rows, by falling
singular value), `singular_values` [K], `ws` (the w indices the chosen layers read) and
a JSON header naming the checkpoint and layers.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import CheckpointError, ConfigError, WrongFormatError
from zizi.render.blocks import block_resolutions, parse_layers

if TYPE_CHECKING:
    import torch

FORMAT = "zizi-directions"


@dataclass
class Directions:
    """Unit directions in W, their singular values, and which ws they act on."""

    vectors: torch.Tensor  # [K, w_dim]
    values: torch.Tensor  # [K]
    ws: list[int]  # w indices of the chosen layers (all of them for `all`)
    meta: dict[str, Any] = field(default_factory=dict)
    shift: torch.Tensor | None = None  # [w_dim] towards a fine-tune (`--toward`), if measured


def style_ws(img_resolution: int, blocks: list[int]) -> list[int]:
    """The w indices that the modulated convs of `blocks` read (plus the final toRGB's when
    the last block is chosen), following SynthesisNetwork's indexing: b4's conv reads w0,
    the k-th later block's convs read w(2k-1) and w(2k); the last toRGB reads the last w."""
    res = block_resolutions(img_resolution)
    out = []
    for k, r in enumerate(res):
        if r in blocks:
            out += [0] if k == 0 else [2 * k - 1, 2 * k]
    if res[-1] in blocks:
        out.append(2 * len(res) - 1)
    return out


def affine_names(img_resolution: int, blocks: list[int]) -> list[str]:
    """G_ema names of the style affines of the modulated convs in `blocks` (no toRGB)."""
    names = []
    for r in blocks:
        convs = ["conv1"] if r == 4 else ["conv0", "conv1"]
        names += [f"synthesis.b{r}.{c}.affine.weight" for c in convs]
    return names


def factorize(
    state: dict[str, torch.Tensor], img_resolution: int, layers: str = "all"
) -> Directions:
    """SeFa on a G_ema state dict: right-singular vectors of the stacked style affines."""
    import torch

    blocks = parse_layers(layers, img_resolution)
    names = affine_names(img_resolution, blocks)
    missing = [n for n in names if n not in state]
    if missing:
        raise CheckpointError(f"the generator has no {missing[0]}; is it a StyleGAN2 generator?")
    A = torch.cat([state[n].detach().to("cpu", torch.float64) for n in names])  # [sum C_in, w_dim]
    _, S, Vh = torch.linalg.svd(A, full_matrices=False)
    # an SVD's signs are arbitrary: fix each so its largest component is positive, so the
    # same checkpoint always gives the same file
    big = Vh.abs().argmax(dim=1)
    signs = torch.sign(Vh[torch.arange(len(Vh)), big])
    Vh = Vh * signs[:, None]
    return Directions(
        Vh.to(torch.float32),
        S.to(torch.float32),
        style_ws(img_resolution, blocks),
        {
            "method": "SeFa closed-form factorisation",
            "layers": layers,
            "blocks": [f"b{r}" for r in blocks],
            "affines": names,
        },
    )


def directions_of(checkpoint: str | os.PathLike, layers: str = "all") -> Directions:
    """SeFa directions of a checkpoint file's G_ema."""
    from zizi.io.checkpoint import load_checkpoint
    from zizi.render.provenance import checkpoint_entry

    ck = load_checkpoint(checkpoint, nets=["G_ema"])
    d = factorize(ck.tensors["G_ema"], ck.g_config.img_resolution, layers)
    d.meta["checkpoint"] = checkpoint_entry(checkpoint, ck.extra)
    return d


def save_directions(path: str | os.PathLike, d: Directions) -> Path:
    """Write a directions file atomically."""
    import torch
    from safetensors.torch import save

    doc = {"format": FORMAT, "format_version": 1, **d.meta}
    tensors = {
        "directions": d.vectors.contiguous(),
        "singular_values": d.values.contiguous(),
        "ws": torch.tensor(d.ws, dtype=torch.int64),
    }
    if d.shift is not None:
        tensors["shift"] = d.shift.contiguous()
    data = save(tensors, metadata={"zizi": json.dumps(doc)})
    from zizi.files import write_bytes

    return write_bytes(path, data)


def load_directions(path: str | os.PathLike) -> Directions:
    """Read a file written by `zizi directions`."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p} not found")
    try:
        with safe_open(str(p), framework="pt") as f:
            doc = json.loads((f.metadata() or {}).get("zizi", "{}"))
            if doc.get("format") != FORMAT:
                raise WrongFormatError(
                    f"{p.name} is not a directions file; make one with "
                    "`zizi directions CKPT --out DIRS.safetensors`"
                )
            shift = f.get_tensor("shift") if "shift" in f.keys() else None
            return Directions(
                f.get_tensor("directions"),
                f.get_tensor("singular_values"),
                [int(x) for x in f.get_tensor("ws").tolist()],
                doc,
                shift,
            )
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{p.name} is not a readable directions file ({e})") from None


def shift_direction(base: str | os.PathLike, tuned: str | os.PathLike) -> torch.Tensor:
    """[w_dim]: how far the fine-tune moved the average face in W (w_avg(tuned) - w_avg(base)).

    w_avg is each network's running mean of mapped w over its training, so this is the
    difference of the two mean latents; adding it to a base w heads towards the new data.
    """
    import torch

    from zizi.io.checkpoint import load_checkpoint

    avgs = []
    for p in (base, tuned):
        ck = load_checkpoint(p, nets=["G_ema"])
        w = ck.tensors["G_ema"].get("mapping.w_avg")
        if w is None:
            raise CheckpointError(
                f"{Path(p).name} stores no average w (mapping.w_avg), so the "
                "shift direction cannot be measured"
            )
        avgs.append(w.to("cpu", torch.float32))
    if avgs[0].shape != avgs[1].shape:
        raise CheckpointError(f"{Path(tuned).name} has another w size than {Path(base).name}")
    return avgs[1] - avgs[0]


FIT_SAMPLES = 32  # faces the fitted shift is measured on
FIT_STEPS = 150  # Adam steps: the 1-vector fit settles well before this on the demo nets
FIT_LR = 0.05
FIT_SEED = 100_000  # latents for the fit come from seeds FIT_SEED...: not the seeds one renders
FIT_PIXELS = 64  # images are compared at most this size: the shift is in the broad look


def fitted_shift(
    base: str | os.PathLike,
    tuned: str | os.PathLike,
    device=None,
    *,
    samples: int = FIT_SAMPLES,
    steps: int = FIT_STEPS,
) -> torch.Tensor:
    """[w_dim]: the one offset in the base's W that best turns its faces into the tuned
    network's faces for the same latents (least squares on images, by Adam).

    Why not w_avg(tuned) - w_avg(base)? A fine-tune moves the synthesis network far more
    than the mapping (whose learning rate is 100x lower), and w_avg is a running mean over
    small batches, so that difference is mostly the running mean's own noise (measured in
    docs/render.md). This estimate asks the question the walk answers: where in the base's
    W do faces look like the new data. Computed in float32 with fixed latents and noise:
    the same two checkpoints give the same vector.
    """
    import torch
    import torch.nn.functional as F

    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.latents import z_for_seeds

    device = device or torch.device("cpu")
    nets = [
        build_generator(load_checkpoint(p, nets=["G_ema"])).to(device).eval().requires_grad_(False)
        for p in (base, tuned)
    ]
    A, B = nets
    if (A.w_dim, A.z_dim, A.img_resolution) != (B.w_dim, B.z_dim, B.img_resolution):
        raise CheckpointError(
            f"{Path(tuned).name} is not a fine-tune of {Path(base).name} "
            "(other latent or image sizes)"
        )
    if A.c_dim:
        raise ConfigError("--direction shift is for unconditional networks")
    z = z_for_seeds(list(range(FIT_SEED, FIT_SEED + samples)), A.z_dim).to(device)
    pool = max(1, A.img_resolution // FIT_PIXELS)

    def small(img: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(img, pool) if pool > 1 else img

    with torch.no_grad():
        w = A.mapping(z, None)  # [N, num_ws, w_dim]
        target = small(B.synthesis(B.mapping(z, None), noise_mode="const"))
    delta = torch.zeros(A.w_dim, device=device, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=FIT_LR)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(small(A.synthesis(w + delta, noise_mode="const")), target)
        loss.backward()
        opt.step()
    return delta.detach().to("cpu", torch.float32)


def amount_at(
    i: float, n: int, amount: float, *, loop: bool, symmetric: bool, easing: str = "smooth"
) -> float:
    """How far along the direction frame i of n is.

    A SeFa direction (symmetric) is walked from -amount to +amount (a loop: out to +amount,
    back through the face to -amount and home); the shift direction from 0 to amount (a
    loop: there and back). The face's own w sits at 0.
    """
    from zizi.render.timeline import ease, phase

    p = phase(i, n, loop)
    if loop:
        return amount * (
            math.sin(2 * math.pi * p) if symmetric else 0.5 - 0.5 * math.cos(2 * math.pi * p)
        )
    if symmetric and 2 * i == n - 1:
        return 0.0  # the middle frame is the face itself, exactly (cos rounding aside)
    e = ease(p, easing)
    return amount * (2 * e - 1 if symmetric else e)


def parse_direction(text: str) -> int | str:
    """'3' -> 3, 'shift' -> 'shift'."""
    t = str(text).strip().lower()
    if t == "shift":
        return t
    if t.isdigit():
        return int(t)
    raise ConfigError(f"--direction {text!r}: give a direction number (0 = the strongest) or shift")


class DirectionWalk:
    """ws of every frame: each face's own w plus a changing amount of its direction.

    `w0` [F, num_ws, w_dim] are the faces' (truncated) ws; `steps` [F, num_ws, w_dim] the
    direction of each face, already zero on the ws its layers do not read.
    """

    def __init__(
        self,
        w0: torch.Tensor,
        steps: torch.Tensor,
        symmetric: list[bool],
        amount: float,
        *,
        loop: bool,
        easing: str,
    ) -> None:
        self.w0, self.steps, self.symmetric = w0, steps, symmetric
        self.amount, self.loop, self.easing = amount, loop, easing

    def at(self, i: float, n: int) -> torch.Tensor:
        """[F, num_ws, w_dim] ws of frame i of n."""
        import torch

        a = torch.tensor(
            [
                amount_at(i, n, self.amount, loop=self.loop, symmetric=sym, easing=self.easing)
                for sym in self.symmetric
            ],
            dtype=self.w0.dtype,
            device=self.w0.device,
        )
        return self.w0 + a[:, None, None] * self.steps
