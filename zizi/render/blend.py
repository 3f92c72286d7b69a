"""Network blending (layer swapping): the coarse blocks of one generator, the fine of another.

`blend(A, B, swap_res)` keeps A's mapping network and its synthesis blocks up to
`swap_res` and takes the blocks above from B, so the faces keep A's pose and shape and
take B's colour and texture (Pinkney & Adler 2020, "Resolution dependent GAN interpolation
for controllable image synthesis between domains", the toonify method). With `width` the
cut is a smooth per-block interpolation. The discriminator (when B has one) is B's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import CheckpointError
from zizi.render.blocks import block_resolutions, swap_weights, tensor_block

if TYPE_CHECKING:
    from zizi.io.checkpoint import Checkpoint


def blend_checkpoints(
    a: Checkpoint,
    b: Checkpoint,
    swap_res: int,
    width: float = 0.0,
    *,
    a_entry: dict[str, Any] | None = None,
    b_entry: dict[str, Any] | None = None,
) -> Checkpoint:
    """The blended checkpoint (every generator net both hold; D from B).

    `a_entry`/`b_entry` ({"file", "sha256"}) name the parents in the provenance.
    """
    import dataclasses

    import torch

    from zizi.config import to_dict
    from zizi.render.weights import _first_difference

    diff = _first_difference(to_dict(a.g_config), to_dict(b.g_config))
    if diff is not None:
        key, va, vb = diff
        raise CheckpointError(
            f"the two generators differ: {key} is {va!r} in A and {vb!r} in B; "
            "blending needs one architecture (fine-tune B from A)"
        )
    res = block_resolutions(a.g_config.img_resolution)
    alpha = swap_weights(res, swap_res, width)
    nets = [n for n in ("G_ema", "G") if n in a.tensors and n in b.tensors]
    if "G_ema" not in nets:
        raise CheckpointError("both checkpoints need a G_ema network to blend")
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    for net in nets:
        sa, sb = a.tensors[net], b.tensors[net]
        if set(sa) != set(sb):
            odd = sorted(set(sa) ^ set(sb))[0]
            raise CheckpointError(f"{net} tensor {odd} is in only one of the two checkpoints")
        out = {}
        for name, ta in sa.items():
            block = tensor_block(name)
            t = 0.0 if block is None else alpha[block]  # the mapping (and w_avg) stay A's
            tb = sb[name]
            if t == 0.0 or not ta.is_floating_point():
                out[name] = (ta if t < 0.5 else tb).clone()
            elif t == 1.0:
                out[name] = tb.clone()
            else:
                out[name] = torch.lerp(ta.float(), tb.float(), t).to(ta.dtype)
        tensors[net] = out
    if "D" in b.tensors:
        tensors["D"] = dict(b.tensors["D"])
    record = {
        "a": a_entry,
        "b": b_entry,
        "swap_res": swap_res,
        "width": width,
        "b_share": {f"b{r}": round(alpha[r], 6) for r in res},
        "mapping": "A",
        "D": "B" if "D" in b.tensors else None,
    }
    provenance = {"blend": record, "parents": {"a": a.provenance, "b": b.provenance}}
    extra = {k: v for k, v in b.extra.items() if k in ("kimg", "nimg")}
    extra["blend"] = {
        "a": (a_entry or {}).get("file"),
        "b": (b_entry or {}).get("file"),
        "swap_res": swap_res,
        "width": width,
    }
    return dataclasses.replace(
        b,
        g_config=b.g_config,
        d_config=b.d_config if "D" in b.tensors else None,
        tensors=tensors,
        provenance=provenance,
        extra=extra,
        state={},
        train=None,
        augment_p=b.augment_p if "D" in b.tensors else None,
    )


def blend_files(
    a: str | os.PathLike,
    b: str | os.PathLike,
    out: str | os.PathLike,
    swap_res: int,
    width: float = 0.0,
    *,
    overwrite: bool = False,
) -> Path:
    """Blend two checkpoint files into `out` (written atomically by the checkpoint writer)."""
    from zizi.io.checkpoint import load_checkpoint, read_header, save_checkpoint
    from zizi.render.provenance import checkpoint_entry

    ca, cb = (
        load_checkpoint(p, nets=[n for n in ("G_ema", "G", "D") if n in read_header(p)["nets"]])
        for p in (a, b)
    )  # the networks only, not a snapshot's optimiser state
    blended = blend_checkpoints(
        ca,
        cb,
        swap_res,
        width,
        a_entry=checkpoint_entry(a, ca.extra),
        b_entry=checkpoint_entry(b, cb.extra),
    )
    return save_checkpoint(out, blended, overwrite=overwrite)
