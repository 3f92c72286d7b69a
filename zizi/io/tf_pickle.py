"""Reader for NVIDIA's TensorFlow StyleGAN2 pickles (`stylegan2-ffhq-config-f.pkl`).

The file is a pickled tuple `(G, D, Gs)` of `dnnlib.tflib.network.Network` objects (see
FORMATS.md §2). They are unpickled through the allow-list reader into `TFNetwork`
stand-ins that only keep their state; `build_module_src` is kept as text and never run.
The variables are then renamed, transposed and flipped into zizi's (NVIDIA PyTorch) names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zizi.config import DiscriminatorConfig, GeneratorConfig, MappingConfig
from zizi.errors import CheckpointError, UnsafePickleError
from zizi.io.checkpoint import Checkpoint
from zizi.io.layout import channel_schedule, discriminator_channels, generator_channels, pick_nets
from zizi.io.safe_pickle import NVLABS_ALLOW, safe_load


class TFNetwork:
    """Stand-in for `dnnlib.tflib.network.Network`: keeps the pickled state, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not isinstance(state.get("variables"), list | tuple):
            raise CheckpointError("TensorFlow network record is malformed (no variables list)")
        self._state = state

    @property
    def name(self) -> str:
        return str(self._state.get("name", "?"))

    @property
    def static_kwargs(self) -> dict[str, Any]:
        kw = self._state.get("static_kwargs")
        return dict(kw) if isinstance(kw, dict) else {}

    @property
    def components(self) -> dict[str, TFNetwork]:
        comps = self._state.get("components") or {}
        return {k: v for k, v in dict(comps).items() if isinstance(v, TFNetwork)}

    def flat_variables(self, prefix: str = "") -> dict[str, Any]:
        """Own variables plus the components', named `component/...`."""
        import numpy as np

        out: dict[str, Any] = {}
        for item in self._state["variables"]:
            if not (
                isinstance(item, tuple | list)
                and len(item) == 2
                and isinstance(item[1], np.ndarray)
            ):
                raise CheckpointError(f"TensorFlow network {self.name}: malformed variable entry")
            out[prefix + str(item[0])] = item[1]
        for cname, comp in self.components.items():
            out.update(comp.flat_variables(f"{prefix}{cname}/"))
        return out

    def all_static_kwargs(self) -> dict[str, Any]:
        kw = {}
        for comp in self.components.values():
            kw.update(comp.all_static_kwargs())
        kw.update(self.static_kwargs)
        return kw


def _ndarray_reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
    # numpy's pickled arrays start as an empty array whose __setstate__ (a BUILD with the
    # shape, a dtype that passed the allow-list, and raw bytes) then fills it in.
    import numpy as np

    if subtype is not np.ndarray:
        raise UnsafePickleError("refused to load: an array of a numpy subclass is not allowed")
    return np.empty(0, dtype=np.int8)


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # Protocol 0/1 pickles build objects through copyreg._reconstructor; only the Network
    # stand-in may be built this way.
    if cls is not TFNetwork or base is not object or state is not None:
        raise UnsafePickleError("refused to load: copyreg._reconstructor for a non-network class")
    return TFNetwork.__new__(TFNetwork)


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(
            "refused to load: _codecs.encode used for something other than bytes"
        )
    return text.encode("latin1")


def tf_allow() -> dict[tuple[str, str], Any]:
    """The allow-list for TF pickles: NVIDIA's data globals plus numpy arrays and Network."""
    import numpy as np

    allow = dict(NVLABS_ALLOW)
    allow.update(
        {
            ("dnnlib.tflib.network", "Network"): TFNetwork,
            ("numpy.core.multiarray", "_reconstruct"): _ndarray_reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _ndarray_reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("copy_reg", "_reconstructor"): _reconstructor,
            ("copyreg", "_reconstructor"): _reconstructor,
            # the `base` argument of _reconstructor in protocol 0/1 pickles
            ("__builtin__", "object"): object,
            ("builtins", "object"): object,
            ("_codecs", "encode"): _latin1_bytes,  # how protocol < 3 writes bytes (array data)
        }
    )
    return allow


def read_tf_pickle(path: str | Path, which: str | None = None) -> Checkpoint:
    """Read a TF StyleGAN2 pickle into a Checkpoint with nets G_ema (from Gs), G and D."""
    path = Path(path)
    with open(path, "rb") as f:
        data = safe_load(f, tf_allow(), what=str(path))
    return convert_tf(data, str(path), which)


def convert_tf(data: Any, where: str, which: str | None = None) -> Checkpoint:
    """Turn the unpickled `(G, D, Gs)` tuple into a Checkpoint."""
    from zizi.io.nvlabs import check_shapes

    if not (
        isinstance(data, tuple) and len(data) == 3 and all(isinstance(n, TFNetwork) for n in data)
    ):
        raise CheckpointError(
            f"{where} is a TensorFlow pickle, but not the (G, D, Gs) network tuple"
        )
    G, D, Gs = data
    nets = pick_nets({"G_ema": Gs, "G": G, "D": D}, which, where)
    unused: dict[str, list[str]] = {}
    tensors: dict[str, dict[str, Any]] = {}
    g_cfg = d_cfg = None
    for name, net in nets.items():
        if name == "D":
            d_cfg, tensors[name], unused[name] = _convert_d(net, where)
        else:
            cfg, tensors[name], unused[name] = _convert_g(net, where)
            g_cfg = g_cfg or cfg
    extra: dict[str, Any] = {}
    leftovers = {k: v for k, v in unused.items() if v}
    if leftovers:
        extra["tf_unused_variables"] = leftovers
    ckpt = Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors=tensors,
        augment_p=None,
        provenance={"importer": "nvidia-tf (stylegan2)"},
        extra=extra,
    )
    check_shapes(ckpt, where)
    return ckpt


class _Vars:
    """The TF variables of one network; pops what is used so leftovers can be reported."""

    def __init__(self, net: TFNetwork, where: str) -> None:
        self.v = net.flat_variables()
        self.where = f"{where} ({net.name})"

    def has(self, name: str) -> bool:
        return name in self.v

    def take(self, name: str):
        import torch

        if name not in self.v:
            raise CheckpointError(f"{self.where}: variable {name} is missing")
        return torch.from_numpy(self.v.pop(name).astype("float32", copy=True))


def _conv_weight(w, flip: bool):
    # TF [k, k, in, out] -> [out, in, k, k]; the generator's upsampling convs were
    # transposed convolutions in TF, whose kernel is the spatial mirror of ours.
    if flip:
        w = w.flip(0, 1)
    return w.permute(3, 2, 0, 1).contiguous()


def _convert_g(net: TFNetwork, where: str):
    v = _Vars(net, where)
    kw = net.all_static_kwargs()
    if kw.get("label_size", 0) or any(k.startswith("mapping/LabelConcat") for k in v.v):
        raise CheckpointError(
            f"{where}: conditional (label) TensorFlow generators are not supported"
        )
    if any("/Skip/" in k for k in v.v if k.startswith("synthesis/")):
        raise CheckpointError(
            f"{where}: only the 'skip' generator architecture is supported, not 'resnet'"
        )
    sd: dict[str, Any] = {}
    i = 0
    while v.has(f"mapping/Dense{i}/weight"):
        sd[f"mapping.fc{i}.weight"] = v.take(f"mapping/Dense{i}/weight").t().contiguous()
        sd[f"mapping.fc{i}.bias"] = v.take(f"mapping/Dense{i}/bias")
        i += 1
    num_layers = i
    if num_layers == 0:
        raise CheckpointError(
            f"{where}: no mapping/Dense0 variables (is this a StyleGAN2 generator?)"
        )
    sd["mapping.w_avg"] = v.take("dlatent_avg")
    sd["synthesis.b4.const"] = v.take("synthesis/4x4/Const/const")[0]
    resolutions = sorted(
        int(k.split("/")[1].split("x")[0])
        for k in v.v
        if k.startswith("synthesis/") and k.endswith("/ToRGB/weight")
    )
    for res in resolutions:
        tf_block, pt_block = f"synthesis/{res}x{res}", f"synthesis.b{res}"
        log2 = res.bit_length() - 1
        layers = (
            [("Conv", "conv1", False, 0)]
            if res == 4
            else [
                ("Conv0_up", "conv0", True, 2 * log2 - 5),
                ("Conv1", "conv1", False, 2 * log2 - 4),
            ]
        )
        for tf_name, pt_name, flip, noise in layers:
            src, dst = f"{tf_block}/{tf_name}", f"{pt_block}.{pt_name}"
            sd[f"{dst}.weight"] = _conv_weight(v.take(f"{src}/weight"), flip)
            sd[f"{dst}.noise_strength"] = v.take(f"{src}/noise_strength").reshape(())
            sd[f"{dst}.bias"] = v.take(f"{src}/bias")
            sd[f"{dst}.noise_const"] = v.take(f"synthesis/noise{noise}").reshape(res, res)
            sd[f"{dst}.affine.weight"] = v.take(f"{src}/mod_weight").t().contiguous()
            sd[f"{dst}.affine.bias"] = v.take(f"{src}/mod_bias") + 1  # TF adds the +1 at run time
        src, dst = f"{tf_block}/ToRGB", f"{pt_block}.torgb"
        sd[f"{dst}.weight"] = _conv_weight(v.take(f"{src}/weight"), False)
        sd[f"{dst}.bias"] = v.take(f"{src}/bias")
        sd[f"{dst}.affine.weight"] = v.take(f"{src}/mod_weight").t().contiguous()
        sd[f"{dst}.affine.bias"] = v.take(f"{src}/mod_bias") + 1

    channels = generator_channels(sd)
    base, cmax = _schedule(channels, kw, where)
    z_dim, layer_features = sd["mapping.fc0.weight"].shape[1], sd["mapping.fc0.weight"].shape[0]
    w_dim = sd["mapping.w_avg"].shape[0]
    cfg = GeneratorConfig(
        z_dim=int(z_dim),
        w_dim=int(w_dim),
        img_resolution=max(resolutions),
        img_channels=int(sd[f"synthesis.b{max(resolutions)}.torgb.weight"].shape[0]),
        channel_base=base,
        channel_max=cmax,
        num_fp16_res=0,
        conv_clamp=None,
        mapping=MappingConfig(
            num_layers=num_layers,
            lr_multiplier=float(kw.get("mapping_lrmul", 0.01)),
            w_avg_beta=kw.get("dlatent_avg_beta", 0.995),
            layer_features=int(layer_features)
            if num_layers > 1 and layer_features != w_dim
            else None,
        ),
    )
    return cfg, sd, sorted(v.v)


def _convert_d(net: TFNetwork, where: str):
    v = _Vars(net, where)
    kw = net.all_static_kwargs()
    tops = [int(k.split("x")[0]) for k in v.v if k.endswith("/FromRGB/weight")]
    if len(tops) != 1:
        raise CheckpointError(
            f"{where}: expected one FromRGB layer in the discriminator, found {len(tops)}"
        )
    top = tops[0]
    if v.v.get("Output/weight") is not None and v.v["Output/weight"].shape[-1] != 1:
        raise CheckpointError(
            f"{where}: conditional (label) TensorFlow discriminators are not supported"
        )
    sd: dict[str, Any] = {}
    sd[f"b{top}.fromrgb.weight"] = _conv_weight(v.take(f"{top}x{top}/FromRGB/weight"), False)
    sd[f"b{top}.fromrgb.bias"] = v.take(f"{top}x{top}/FromRGB/bias")
    res = top
    while res > 4:
        for tf_name, pt_name in (("Conv0", "conv0"), ("Conv1_down", "conv1")):
            sd[f"b{res}.{pt_name}.weight"] = _conv_weight(
                v.take(f"{res}x{res}/{tf_name}/weight"), False
            )
            sd[f"b{res}.{pt_name}.bias"] = v.take(f"{res}x{res}/{tf_name}/bias")
        sd[f"b{res}.skip.weight"] = _conv_weight(v.take(f"{res}x{res}/Skip/weight"), False)
        res //= 2
    sd["b4.conv.weight"] = _conv_weight(v.take("4x4/Conv/weight"), False)
    sd["b4.conv.bias"] = v.take("4x4/Conv/bias")
    # Dense0 [C·4·4, C]: TF ran in NCHW, so the flatten order already matches PyTorch's.
    sd["b4.fc.weight"] = v.take("4x4/Dense0/weight").t().contiguous()
    sd["b4.fc.bias"] = v.take("4x4/Dense0/bias")
    sd["b4.out.weight"] = v.take("Output/weight").t().contiguous()
    sd["b4.out.bias"] = v.take("Output/bias")
    base, cmax = _schedule(discriminator_channels(sd), kw, where)
    cfg = DiscriminatorConfig(
        img_resolution=top,
        img_channels=int(sd[f"b{top}.fromrgb.weight"].shape[1]),
        channel_base=base,
        channel_max=cmax,
        mbstd_group_size=kw.get("mbstd_group_size", 4),
        mbstd_num_channels=int(kw.get("mbstd_num_features", 1)),
    )
    return cfg, sd, sorted(v.v)


def _schedule(channels: dict[int, int], kw: dict[str, Any], where: str) -> tuple[int, int]:
    base, cmax = channel_schedule(channels, where)
    if "fmap_base" in kw:
        # TF counted channels per stage (r/2), so its fmap_base is half of channel_base.
        declared = 2 * int(kw["fmap_base"])
        if all(min(declared // r, cmax) == c for r, c in channels.items()):
            base = declared
    return base, cmax
