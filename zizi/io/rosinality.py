"""rosinality/stylegan2-pytorch `.pt` files: read them, and write them for pSp, e4e & co.

Both layouts are `torch.save` dicts (FORMATS.md §3): converted files hold `g_ema` and
`latent_avg` (sometimes `g`, `d`); training checkpoints hold `g`, `d`, `g_ema`, optimizer
states, `args` (an argparse.Namespace) and `ada_aug_p`. They are loaded with
`weights_only=True`, which refuses any global other than tensors and, here, Namespace.
The weights themselves use the same equalised-lr convention as NVIDIA's, so conversion
is renaming and reshaping only: values are copied bit for bit.
"""

from __future__ import annotations

import numbers
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig
from zizi.errors import CheckpointError, UnsafePickleError
from zizi.files import commit_temp, remove_stale_temps, temp_beside
from zizi.io.checkpoint import Checkpoint
from zizi.io.layout import channel_schedule, discriminator_channels, generator_channels, pick_nets

if TYPE_CHECKING:
    import torch

# rosinality's networks are written for these settings; other configs still convert
# (names and shapes follow the same rules) but its model code cannot build them.
ROSINALITY_MAPPING_LR = 0.01


def _blur_kernel(gain: float):
    import torch

    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = k[:, None] * k[None, :]
    return k / k.sum() * gain


# --------------------------------------------------------------------------- reading


def read_rosinality(path: str | Path, which: str | None = None) -> Checkpoint:
    """Read a rosinality `.pt` (converted or training checkpoint) into a Checkpoint."""
    path = Path(path)
    data = _torch_load(path)
    return convert_rosinality(data, str(path), which)


def rosinality_safe_globals() -> list:
    """What a rosinality file may name besides tensors: argparse.Namespace (`args`) and numpy
    scalars (numeric only, under numpy 1's and numpy 2's module names), e.g. `ada_aug_p`."""
    import argparse

    import numpy as np

    from zizi.io.safe_pickle import NUMERIC_KINDS, numpy_dtype, numpy_scalar

    # torch only lets a BUILD (dtype.__setstate__) run on allowed types: the numeric dtype classes.
    dtype_classes = sorted(
        {type(np.dtype(c)) for c in np.typecodes["All"] if np.dtype(c).kind in NUMERIC_KINDS},
        key=lambda t: t.__name__,
    )
    return [
        argparse.Namespace,
        (numpy_scalar, "numpy.core.multiarray.scalar"),
        (numpy_scalar, "numpy._core.multiarray.scalar"),
        (numpy_dtype, "numpy.dtype"),
        *dtype_classes,
    ]


def _torch_load(path: Path) -> Any:
    import pickle

    import torch

    from zizi.io.safe_pickle import refusal_reason
    from zizi.io.zipcheck import check_zip_sizes

    with open(path, "rb") as f:
        is_zip = f.read(2) == b"PK"
    if is_zip:
        check_zip_sizes(path, path.stat().st_size, str(path))

    try:
        with torch.serialization.safe_globals(rosinality_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if re.search(r"GLOBAL ([\w.]+)", str(e)) is None and "Weights only load failed" not in str(
            e
        ):
            raise CheckpointError(
                f"{path} is truncated or malformed ({str(e).splitlines()[0]})"
            ) from None
        # torch's message advises weights_only=False: the wrong advice for a refused file.
        raise UnsafePickleError(f"refused to load {path}: it {refusal_reason(e)}") from None
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path} is truncated or not a torch checkpoint ({first})") from None


def convert_rosinality(data: Any, where: str, which: str | None = None) -> Checkpoint:
    """Turn a loaded rosinality dict into a Checkpoint (G_ema from g_ema, G from g, D from d)."""
    from zizi.io.nvlabs import check_shapes

    if not isinstance(data, dict) or not isinstance(data.get("g_ema"), dict):
        keys = (
            ", ".join(map(str, list(data)[:6])) if isinstance(data, dict) else type(data).__name__
        )
        raise CheckpointError(
            f"{where} is a torch file, but not a rosinality StyleGAN2 checkpoint "
            f"(no 'g_ema' state dict; it has {keys})"
        )
    nets = {k: data[k] for k in ("g_ema", "g", "d") if isinstance(data.get(k), dict)}
    nets = {{"g_ema": "G_ema", "g": "G", "d": "D"}[k]: v for k, v in nets.items()}
    nets = pick_nets(nets, which, where)
    latent_avg = data.get("latent_avg")
    tensors: dict[str, dict[str, Any]] = {}
    g_cfg = d_cfg = None
    extra: dict[str, Any] = {}
    for name, sd in nets.items():
        if name == "D":
            d_cfg, tensors[name] = rosinality_d_to_nvidia(sd, where)
        else:
            cfg, tensors[name], estimated = rosinality_g_to_nvidia(sd, latent_avg, where)
            g_cfg = g_cfg or cfg
            if estimated:
                extra["w_avg_estimated"] = (
                    "the file has no latent_avg; w_avg is the mean of 4096 mapped z (seed 0)"
                )
    args = data.get("args")
    if args is not None and hasattr(args, "__dict__"):
        import numpy as np

        extra["source_args"] = {
            k: v
            for k, v in vars(args).items()
            if isinstance(v, str | int | float | bool) or v is None
        } | {k: v.item() for k, v in vars(args).items() if isinstance(v, np.generic)}
    augment_p = data.get("ada_aug_p")
    ckpt = Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors=tensors,
        augment_p=float(augment_p) if isinstance(augment_p, numbers.Real) else None,
        provenance={"importer": "rosinality (stylegan2-pytorch)"},
        extra=extra,
    )
    check_shapes(ckpt, where)
    return ckpt


def _num_styles(sd: dict) -> int:
    n = 0
    while f"style.{n + 1}.weight" in sd:
        n += 1
    return n


def rosinality_g_to_nvidia(sd: dict, latent_avg: Any, where: str):
    """(config, NVIDIA-named state dict, w_avg_was_estimated) of a rosinality generator."""

    def take(name: str) -> torch.Tensor:
        if name not in sd:
            raise CheckpointError(f"{where}: generator tensor {name} is missing")
        return sd[name].detach().to("cpu").clone()

    n_mlp = _num_styles(sd)
    if n_mlp == 0:
        raise CheckpointError(
            f"{where}: g_ema has no style.1.weight (not a rosinality StyleGAN2 generator)"
        )
    out: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = take(f"style.{i + 1}.weight")
        out[f"mapping.fc{i}.bias"] = take(f"style.{i + 1}.bias")
    out["synthesis.b4.const"] = take("input.input")[0]
    num_blocks = 0
    while f"to_rgbs.{num_blocks}.bias" in sd:
        num_blocks += 1

    def styled(src: str, dst: str, noise: int, res: int) -> None:
        out[f"{dst}.weight"] = take(f"{src}.conv.weight")[0]
        out[f"{dst}.noise_strength"] = take(f"{src}.noise.weight").reshape(())
        out[f"{dst}.bias"] = take(f"{src}.activate.bias")
        out[f"{dst}.noise_const"] = take(f"noises.noise_{noise}").reshape(res, res)
        out[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias")

    def to_rgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = take(f"{src}.conv.weight")[0]
        out[f"{dst}.bias"] = take(f"{src}.bias").reshape(-1)
        out[f"{dst}.affine.weight"] = take(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = take(f"{src}.conv.modulation.bias")

    styled("conv1", "synthesis.b4.conv1", 0, 4)
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    for k in range(num_blocks):
        res = 8 << k
        styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1, res)
        styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2, res)
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")

    base, cmax = channel_schedule(generator_channels(out), where)
    w_dim = int(out["mapping.fc0.weight"].shape[1])
    img_res = 4 << num_blocks
    cfg = GeneratorConfig(
        z_dim=w_dim,  # rosinality's mapping is style_dim -> style_dim
        w_dim=w_dim,
        img_resolution=img_res,
        img_channels=int(out[f"synthesis.b{img_res}.torgb.weight"].shape[0]),
        channel_base=base,
        channel_max=cmax,
        mapping=MappingConfig(num_layers=n_mlp, lr_multiplier=ROSINALITY_MAPPING_LR),
    )
    estimated = latent_avg is None
    if estimated:
        out["mapping.w_avg"] = _estimate_w_avg(cfg, out)
    else:
        out["mapping.w_avg"] = latent_avg.detach().to("cpu").clone().reshape(w_dim)
    return cfg, out, estimated


def _estimate_w_avg(cfg: GeneratorConfig, sd: dict):
    # rosinality's training checkpoints do not store the mean w; its tools compute it
    # the same way (mean of mapped random z), so truncation behaves as they would.
    import torch

    from zizi.nets.generator import Generator

    g = Generator(cfg)
    g.load_state_dict({**sd, "mapping.w_avg": torch.zeros(cfg.w_dim)}, strict=True)
    z = torch.randn(4096, cfg.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return g.mapping(z, None)[:, 0].mean(0)


def rosinality_d_to_nvidia(sd: dict, where: str):
    """(config, NVIDIA-named state dict) of a rosinality discriminator."""

    def take(name: str):
        if name not in sd:
            raise CheckpointError(f"{where}: discriminator tensor {name} is missing")
        return sd[name].detach().to("cpu").clone()

    n = 1
    while f"convs.{n}.conv1.0.weight" in sd:
        n += 1
    num_blocks = n - 1
    if num_blocks == 0:
        raise CheckpointError(
            f"{where}: d has no convs.1 (not a rosinality StyleGAN2 discriminator)"
        )
    top = 4 << num_blocks
    out = {
        f"b{top}.fromrgb.weight": take("convs.0.0.weight"),
        f"b{top}.fromrgb.bias": take("convs.0.1.bias"),
    }
    for i in range(1, n):
        res = top >> (i - 1)
        out[f"b{res}.conv0.weight"] = take(f"convs.{i}.conv1.0.weight")
        out[f"b{res}.conv0.bias"] = take(f"convs.{i}.conv1.1.bias")
        out[f"b{res}.conv1.weight"] = take(f"convs.{i}.conv2.1.weight")
        out[f"b{res}.conv1.bias"] = take(f"convs.{i}.conv2.2.bias")
        out[f"b{res}.skip.weight"] = take(f"convs.{i}.skip.1.weight")
    out["b4.conv.weight"] = take("final_conv.0.weight")
    out["b4.conv.bias"] = take("final_conv.1.bias")
    out["b4.fc.weight"] = take("final_linear.0.weight")
    out["b4.fc.bias"] = take("final_linear.0.bias")
    out["b4.out.weight"] = take("final_linear.1.weight")
    out["b4.out.bias"] = take("final_linear.1.bias")
    base, cmax = channel_schedule(discriminator_channels(out), where)
    cfg = DiscriminatorConfig(
        img_resolution=top,
        img_channels=int(out[f"b{top}.fromrgb.weight"].shape[1]),
        channel_base=base,
        channel_max=cmax,
        mbstd_group_size=4,  # rosinality's stddev_group
        mbstd_num_channels=1,
    )
    return cfg, out


# --------------------------------------------------------------------------- writing


def nvidia_g_to_rosinality(sd: dict, cfg: GeneratorConfig) -> dict:
    """A rosinality `Generator` state dict (with its blur-kernel buffers) from NVIDIA names."""
    out: dict[str, Any] = {}
    for i in range(cfg.mapping.num_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"].clone()
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"].clone()
    out["input.input"] = sd["synthesis.b4.const"][None].clone()

    def styled(src: str, dst: str, up: bool) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None].clone()
        if up:
            # rosinality's Blur after the transposed conv carries the upsampling gain (×4).
            out[f"{dst}.conv.blur.kernel"] = _blur_kernel(4.0)
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"].clone()
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"].clone()
        out[f"{dst}.noise.weight"] = sd[f"{src}.noise_strength"].reshape(1).clone()
        out[f"{dst}.activate.bias"] = sd[f"{src}.bias"].clone()

    def to_rgb(src: str, dst: str, up: bool) -> None:
        if up:
            out[f"{dst}.upsample.kernel"] = _blur_kernel(4.0)
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None].clone()
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"].clone()
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"].clone()
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(1, -1, 1, 1).clone()

    styled("synthesis.b4.conv1", "conv1", up=False)
    to_rgb("synthesis.b4.torgb", "to_rgb1", up=False)
    num_blocks = cfg.img_resolution.bit_length() - 3
    for k in range(num_blocks):
        res = 8 << k
        styled(f"synthesis.b{res}.conv0", f"convs.{2 * k}", up=True)
        styled(f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}", up=False)
        to_rgb(f"synthesis.b{res}.torgb", f"to_rgbs.{k}", up=True)
    out["noises.noise_0"] = sd["synthesis.b4.conv1.noise_const"][None, None].clone()
    for k in range(num_blocks):
        res = 8 << k
        out[f"noises.noise_{2 * k + 1}"] = sd[f"synthesis.b{res}.conv0.noise_const"][
            None, None
        ].clone()
        out[f"noises.noise_{2 * k + 2}"] = sd[f"synthesis.b{res}.conv1.noise_const"][
            None, None
        ].clone()
    return out


def nvidia_d_to_rosinality(sd: dict, cfg: DiscriminatorConfig) -> dict:
    """A rosinality `Discriminator` state dict (with its blur-kernel buffers)."""
    top = cfg.img_resolution
    out: dict[str, Any] = {
        "convs.0.0.weight": sd[f"b{top}.fromrgb.weight"].clone(),
        "convs.0.1.bias": sd[f"b{top}.fromrgb.bias"].clone(),
    }
    res, i = top, 1
    while res > 4:
        out[f"convs.{i}.conv1.0.weight"] = sd[f"b{res}.conv0.weight"].clone()
        out[f"convs.{i}.conv1.1.bias"] = sd[f"b{res}.conv0.bias"].clone()
        # Downsampling blurs have no gain in rosinality's code (upsample_factor 1).
        out[f"convs.{i}.conv2.0.kernel"] = _blur_kernel(1.0)
        out[f"convs.{i}.conv2.1.weight"] = sd[f"b{res}.conv1.weight"].clone()
        out[f"convs.{i}.conv2.2.bias"] = sd[f"b{res}.conv1.bias"].clone()
        out[f"convs.{i}.skip.0.kernel"] = _blur_kernel(1.0)
        out[f"convs.{i}.skip.1.weight"] = sd[f"b{res}.skip.weight"].clone()
        res, i = res // 2, i + 1
    out["final_conv.0.weight"] = sd["b4.conv.weight"].clone()
    out["final_conv.1.bias"] = sd["b4.conv.bias"].clone()
    out["final_linear.0.weight"] = sd["b4.fc.weight"].clone()
    out["final_linear.0.bias"] = sd["b4.fc.bias"].clone()
    out["final_linear.1.weight"] = sd["b4.out.weight"].clone()
    out["final_linear.1.bias"] = sd["b4.out.bias"].clone()
    return out


def rosinality_incompatibilities(ckpt: Checkpoint) -> list[str]:
    """Settings rosinality's model code cannot express (the export still follows the rules)."""
    g = ckpt.g_config
    notes = []
    if g.z_dim != g.w_dim:
        notes.append(f"z_dim {g.z_dim} differs from w_dim {g.w_dim} (rosinality has one style_dim)")
    if g.c_dim:
        notes.append("conditional generators have no rosinality equivalent (labels are dropped)")
    if g.mapping.lr_multiplier != ROSINALITY_MAPPING_LR:
        notes.append(f"mapping lr_multiplier {g.mapping.lr_multiplier} (rosinality uses 0.01)")
    if g.channel_max != 512 or g.channel_base not in (16384, 32768):
        notes.append(
            f"channel_base {g.channel_base} / channel_max {g.channel_max} do not match "
            "rosinality's channel table (channel_multiplier 1 or 2); its Generator must be "
            "built with matching channels"
        )
    if g.conv_clamp is not None:
        notes.append(f"conv_clamp {g.conv_clamp} is not applied by rosinality's code")
    return notes


def to_rosinality(ckpt: Checkpoint, which: str = "G_ema") -> dict[str, Any]:
    """The dict `torch.save` writes for pSp/e4e: `g_ema`, `latent_avg` (+ `g`, `d` if present)."""
    if ckpt.g_config.c_dim:
        raise CheckpointError("conditional generators cannot be exported to the rosinality format")
    if which not in ckpt.tensors:
        raise CheckpointError(f"checkpoint has no {which} (it has {', '.join(ckpt.tensors)})")
    g = ckpt.tensors[which]
    out: dict[str, Any] = {
        "g_ema": nvidia_g_to_rosinality(g, ckpt.g_config),
        "latent_avg": g["mapping.w_avg"].clone(),
    }
    if "G" in ckpt.tensors and which != "G":
        out["g"] = nvidia_g_to_rosinality(ckpt.tensors["G"], ckpt.g_config)
    if "D" in ckpt.tensors and ckpt.d_config is not None:
        out["d"] = nvidia_d_to_rosinality(ckpt.tensors["D"], ckpt.d_config)
    if ckpt.augment_p is not None:
        out["ada_aug_p"] = float(ckpt.augment_p)
    return out


def save_rosinality(
    path: str | Path, ckpt: Checkpoint, which: str = "G_ema", *, overwrite: bool = True
) -> Path:
    """Write `to_rosinality(ckpt)` with `torch.save`, atomically (stale temps removed first;
    `overwrite=False` never replaces a file that appeared meanwhile)."""
    import os
    import shutil

    import torch

    path = Path(path)
    data = to_rosinality(ckpt, which)
    remove_stale_temps(path.parent)
    fd, tmp = temp_beside(path, CheckpointError)
    os.close(fd)
    try:
        torch.save(data, tmp)
        commit_temp(tmp, path, overwrite=overwrite, error=CheckpointError)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise CheckpointError(
                f"could not write {path}: {e.strerror or e}; nothing was written"
            ) from e
        if isinstance(e, RuntimeError):
            # torch.save's zip writer reports a failed write (a full disk) as RuntimeError
            free = shutil.disk_usage(path.parent).free
            raise CheckpointError(
                f"could not write {path} ({free // 2**20} MiB free there; is the disk full?); "
                "nothing was written"
            ) from e
        raise
    return path
