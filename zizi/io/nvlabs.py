"""Reader for NVIDIA PyTorch pickles (stylegan2-ada-pytorch and stylegan3 codebases).

The pickle holds `torch_utils.persistence` records (see FORMATS.md §1). They are read with
the allow-list unpickler into `PersistentObj` stand-ins; this module walks that tree,
collects tensors from `_parameters` and `_buffers` (FreezeD stores frozen weights as
buffers) and reads the architecture from each module's own state, because the two
codebases store different `init_kwargs` and have different defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig
from zizi.errors import CheckpointError
from zizi.io.checkpoint import Checkpoint
from zizi.io.layout import pick_nets
from zizi.io.safe_pickle import PersistentObj, safe_load

# buffers that are derived constants, not weights
_SKIP_BUFFERS = {"resample_filter"}


def read_nvlabs_pickle(path: str | Path, which: str | None = None) -> Checkpoint:
    """Read an NVIDIA PyTorch pickle into a `Checkpoint` (all of G, G_ema, D present)."""
    path = Path(path)
    with open(path, "rb") as f:
        data = safe_load(f, what=str(path))
    return convert_nvlabs(data, str(path), which)


def convert_nvlabs(data: Any, where: str, which: str | None = None) -> Checkpoint:
    """Turn the unpickled dict of `PersistentObj`s into a `Checkpoint`."""
    if not isinstance(data, dict) or not any(
        isinstance(data.get(k), PersistentObj) for k in ("G", "G_ema")
    ):
        raise CheckpointError(
            f"{where} is a pickle, but not an NVIDIA StyleGAN2 network pickle "
            "(expected a dict with G, D, G_ema)"
        )
    nets = {k: data[k] for k in ("G_ema", "G", "D") if isinstance(data.get(k), PersistentObj)}
    if any(_is_stylegan3(nets[k]) for k in ("G_ema", "G") if k in nets):
        raise CheckpointError(STYLEGAN3_MESSAGE.format(where=where))
    nets = pick_nets(nets, which, where)

    gen = nets.get("G_ema") or nets.get("G")
    g_cfg = generator_config(gen, where)
    d_cfg = discriminator_config(nets["D"], where) if "D" in nets else None
    tensors = {name: collect_tensors(obj) for name, obj in nets.items()}
    frozen = (
        [n for n, kind in _param_kinds(nets["D"]).items() if kind == "buffer"]
        if "D" in nets
        else []
    )

    augment_p = None
    pipe = data.get("augment_pipe")
    if isinstance(pipe, PersistentObj):
        p = pipe.state.get("_buffers", {}).get("p")
        augment_p = float(p) if p is not None else None

    init = gen.state.get("_init_kwargs", {})
    codebase = "stylegan2-ada-pytorch" if "synthesis_kwargs" in init else "stylegan3"
    extra: dict[str, Any] = {}
    if frozen:
        extra["d_frozen_params"] = frozen  # FreezeD layers, stored as buffers
    tsk = data.get("training_set_kwargs")
    if isinstance(tsk, dict):
        extra["source_training_set"] = _jsonable(tsk)
    ckpt = Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors=tensors,
        augment_p=augment_p,
        provenance={"importer": f"nvlabs-pytorch ({codebase})"},
        extra=extra,
    )
    check_shapes(ckpt, where)
    return ckpt


STYLEGAN3_MESSAGE = (
    "{where} is a StyleGAN3 (alias-free, training.networks_stylegan3) network, which zizi doesn't "
    "train or render; zizi reads StyleGAN2 networks: NVIDIA stylegan2-ada-pytorch and "
    "stylegan3-repo StyleGAN2 pickles, NVIDIA TensorFlow stylegan2/stylegan2-ada pickles and "
    "rosinality .pt files"
)


def _is_stylegan3(gen: PersistentObj) -> bool:
    """StyleGAN3's synthesis network starts from a Fourier-feature `input` layer (SynthesisInput)
    and names its layers like `L0_36_512`; StyleGAN2's has blocks `b4`, `b8`, ..."""
    synthesis = _child(gen, "synthesis")
    if synthesis is None:
        return False
    modules = synthesis.state.get("_modules") or {}
    return any(name == "input" or name.startswith("L0_") for name in modules) or any(
        isinstance(m, PersistentObj) and m.class_name == "SynthesisInput" for m in modules.values()
    )


def collect_tensors(obj: PersistentObj, prefix: str = "") -> dict[str, Any]:
    """All parameters and buffers in the tree, by dotted NVIDIA name."""
    import torch

    out: dict[str, torch.Tensor] = {}
    state = obj.state
    for group in ("_parameters", "_buffers"):
        for name, t in (state.get(group) or {}).items():
            if t is None or name in _SKIP_BUFFERS:
                continue
            if not isinstance(t, torch.Tensor):
                raise CheckpointError(f"{prefix}{name} is not a tensor ({type(t).__name__})")
            out[prefix + name] = (
                t.detach().to(torch.float32) if t.is_floating_point() else t.detach()
            )
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentObj):
            out.update(collect_tensors(child, f"{prefix}{name}."))
        elif child is not None:
            raise CheckpointError(
                f"unexpected submodule {prefix}{name} of type {type(child).__name__}"
            )
    return out


def _param_kinds(obj: PersistentObj, prefix: str = "") -> dict[str, str]:
    kinds: dict[str, str] = {}
    for name, t in (obj.state.get("_parameters") or {}).items():
        if t is not None:
            kinds[prefix + name] = "param"
    for name, t in (obj.state.get("_buffers") or {}).items():
        if t is not None and name in ("weight", "bias"):
            kinds[prefix + name] = "buffer"
    for name, child in (obj.state.get("_modules") or {}).items():
        if isinstance(child, PersistentObj):
            kinds.update(_param_kinds(child, f"{prefix}{name}."))
    return kinds


def _child(obj: PersistentObj, *names: str) -> PersistentObj | None:
    for n in names:
        if obj is None:
            return None
        obj = (obj.state.get("_modules") or {}).get(n)
    return obj if isinstance(obj, PersistentObj) else None


def _attr(obj: PersistentObj | None, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    return obj.state.get(name, default)


def _kwarg(init: dict, name: str, default: Any) -> Any:
    """An init kwarg, nested (ADA: synthesis_kwargs) or flat (stylegan3)."""
    if name in init:
        return init[name]
    for sub in ("synthesis_kwargs", "mapping_kwargs"):
        if isinstance(init.get(sub), dict) and name in init[sub]:
            return init[sub][name]
    return default


def _mapping_config(mapping: PersistentObj, w_dim: int, where: str) -> MappingConfig:
    num_layers = int(_attr(mapping, "num_layers", 8))
    fc0 = _child(mapping, "fc0")
    if fc0 is None:
        raise CheckpointError(f"{where}: mapping network has no fc0 layer")
    lr = float(_attr(fc0, "bias_gain", 0.01))
    beta = _attr(mapping, "w_avg_beta", 0.995)
    hidden = tuple(fc0.state["_parameters"]["weight"].shape)[0] if num_layers > 1 else None
    embed = _child(mapping, "embed")
    embed_features = (
        tuple(embed.state["_parameters"]["weight"].shape)[0] if embed is not None else None
    )
    return MappingConfig(
        num_layers=num_layers,
        lr_multiplier=lr,
        w_avg_beta=None if beta is None else float(beta),
        layer_features=None if hidden in (None, w_dim) else int(hidden),
        embed_features=None if embed_features in (None, w_dim) else int(embed_features),
        activation=str(_attr(fc0, "activation", "lrelu")),
    )


def _conv_clamp(layer: PersistentObj | None) -> float | None:
    v = _attr(layer, "conv_clamp", None)
    return None if v is None else float(v)


def generator_config(gen: PersistentObj, where: str) -> GeneratorConfig:
    """Architecture of a generator record, from its modules' own state."""
    synthesis, mapping = _child(gen, "synthesis"), _child(gen, "mapping")
    if synthesis is None or mapping is None:
        raise CheckpointError(f"{where}: generator lacks a synthesis or mapping network")
    if _is_stylegan3(gen):
        raise CheckpointError(STYLEGAN3_MESSAGE.format(where=where))
    res = int(_attr(gen, "img_resolution"))
    blocks = [int(r) for r in _attr(synthesis, "block_resolutions", [])]
    for r in blocks:
        arch = _attr(_child(synthesis, f"b{r}"), "architecture", "skip")
        if arch != "skip":
            raise CheckpointError(
                f"{where}: generator architecture {arch!r} is not supported "
                "(zizi implements StyleGAN2 config-f, the 'skip' generator)"
            )
    init = gen.state.get("_init_kwargs") or {}
    w_dim = int(_attr(gen, "w_dim"))
    return GeneratorConfig(
        z_dim=int(_attr(gen, "z_dim")),
        c_dim=int(_attr(gen, "c_dim", 0)),
        w_dim=w_dim,
        img_resolution=res,
        img_channels=int(_attr(gen, "img_channels", 3)),
        channel_base=int(_kwarg(init, "channel_base", 32768)),
        channel_max=int(_kwarg(init, "channel_max", 512)),
        num_fp16_res=sum(
            bool(_attr(_child(synthesis, f"b{r}"), "use_fp16", False)) for r in blocks
        ),
        conv_clamp=_conv_clamp(_child(synthesis, "b4", "conv1")),
        mapping=_mapping_config(mapping, w_dim, where),
    )


def discriminator_config(disc: PersistentObj, where: str) -> DiscriminatorConfig:
    """Architecture of a discriminator record, from its modules' own state."""
    res = int(_attr(disc, "img_resolution"))
    blocks = [int(r) for r in _attr(disc, "block_resolutions", [])]
    for r in blocks:
        arch = _attr(_child(disc, f"b{r}"), "architecture", "resnet")
        if arch != "resnet":
            raise CheckpointError(
                f"{where}: discriminator architecture {arch!r} is not supported "
                "(zizi implements the StyleGAN2 'resnet' discriminator)"
            )
    epilogue = _child(disc, "b4")
    mbstd = _child(epilogue, "mbstd")
    init = disc.state.get("_init_kwargs") or {}
    c_dim = int(_attr(disc, "c_dim", 0))
    cmap_dim = int(_attr(epilogue, "cmap_dim", 0)) or None
    mapping = _child(disc, "mapping")
    return DiscriminatorConfig(
        c_dim=c_dim,
        img_resolution=res,
        img_channels=int(_attr(disc, "img_channels", 3)),
        channel_base=int(_kwarg(init, "channel_base", 32768)),
        channel_max=int(_kwarg(init, "channel_max", 512)),
        num_fp16_res=sum(bool(_attr(_child(disc, f"b{r}"), "use_fp16", False)) for r in blocks),
        conv_clamp=_conv_clamp(_child(disc, f"b{res}", "conv0")),
        cmap_dim=cmap_dim if c_dim > 0 else None,
        mbstd_group_size=None if mbstd is None else _attr(mbstd, "group_size", 4),
        mbstd_num_channels=0 if mbstd is None else int(_attr(mbstd, "num_channels", 1)),
        mapping=_mapping_config(mapping, cmap_dim or 0, where)
        if mapping is not None
        else MappingConfig(w_avg_beta=None),
    )


def check_shapes(ckpt: Checkpoint, where: str) -> None:
    """Every tensor has the name and shape zizi's network of that config expects."""
    from zizi.io.checkpoint import NET_KINDS, shape_mismatch

    for net, state in ckpt.tensors.items():
        cfg = ckpt.config_of(net)
        problem = shape_mismatch(NET_KINDS[net], cfg, {k: tuple(v.shape) for k, v in state.items()})
        if problem:
            raise CheckpointError(
                f"{where}: {net} does not match a StyleGAN2 network of its own "
                f"declared architecture ({problem})"
            )


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)
