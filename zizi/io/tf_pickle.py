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
    def build_func(self) -> str:
        """The build function's dotted name, e.g. 'training.networks_stylegan2.G_main'."""
        return str(self._state.get("build_func_name") or "")

    @property
    def static_kwargs(self) -> dict[str, Any]:
        kw = self._state.get("static_kwargs")
        return dict(kw) if isinstance(kw, dict) else {}

    @property
    def components(self) -> dict[str, TFNetwork]:
        comps = self._state.get("components") or {}
        return {k: v for k, v in dict(comps).items() if isinstance(v, TFNetwork)}

    def flat_variables(self, prefix: str = "") -> dict[str, Any]:
        """Own variables plus the components', named `component/...`, as numpy arrays.

        TF1's `session.run` returned rank-0 variables (`noise_strength`, `lod`) as numpy
        scalars, not 0-d arrays; both arrive here already checked to be numeric.
        """
        import numpy as np

        out: dict[str, Any] = {}
        for item in self._state["variables"]:
            if not (
                isinstance(item, tuple | list)
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], np.ndarray | np.generic)
            ):
                raise CheckpointError(f"TensorFlow network {self.name}: malformed variable entry")
            out[prefix + item[0]] = np.asarray(item[1])
        for cname, comp in self.components.items():
            out.update(comp.flat_variables(f"{prefix}{cname}/"))
        return out

    def all_static_kwargs(self) -> dict[str, Any]:
        kw = {}
        for comp in self.components.values():
            kw.update(comp.all_static_kwargs())
        kw.update(self.static_kwargs)
        return kw

    def all_build_funcs(self) -> list[str]:
        return [self.build_func] + [
            f for c in self.components.values() for f in c.all_build_funcs()
        ]


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # Protocol 0/1 pickles build objects through copyreg._reconstructor; only the Network
    # stand-in may be built this way.
    if cls is not TFNetwork or base is not object or state is not None:
        raise UnsafePickleError("refused to load: copyreg._reconstructor for a non-network class")
    return TFNetwork.__new__(TFNetwork)


def tf_allow() -> dict[tuple[str, str], Any]:
    """The allow-list for TF pickles: NVIDIA's data globals (numpy included) plus Network."""
    allow = dict(NVLABS_ALLOW)
    allow.update(
        {
            ("dnnlib.tflib.network", "Network"): TFNetwork,
            ("copy_reg", "_reconstructor"): _reconstructor,
            ("copyreg", "_reconstructor"): _reconstructor,
            # the `base` argument of _reconstructor in protocol 0/1 pickles
            ("__builtin__", "object"): object,
            ("builtins", "object"): object,
        }
    )
    return allow


def read_tf_pickle(path: str | Path, which: str | None = None) -> Checkpoint:
    """Read a TF StyleGAN2 pickle into a Checkpoint with nets G_ema (from Gs), G and D."""
    path = Path(path)
    with open(path, "rb") as f:
        data = safe_load(f, tf_allow(), what=str(path))
    return convert_tf(data, str(path), which)


#: Build functions whose graphs zizi reproduces: NVlabs/stylegan2 (config-e/f networks)
#: and NVlabs/stylegan2-ada (TF). Anything else computes different maths.
_KNOWN_FUNCS = {
    "G_main",
    "G_mapping",
    "G_synthesis_stylegan2",  # stylegan2: training.networks_stylegan2
    "G_synthesis",
    "D_main",  # stylegan2-ada (TF): training.networks
    "D_stylegan2",
}
_OTHER_FUNCS = {
    "G_style": "a StyleGAN (2018) generator",
    "G_synthesis_stylegan_revised": (
        "a StyleGAN2 config-a..d generator (progressive growing, no skips)"
    ),
    "D_basic": "a StyleGAN (2018) discriminator",
    "D_stylegan": "a StyleGAN2 config-a..d discriminator",
}
_SUPPORTED = (
    "zizi reads TF pickles from NVlabs/stylegan2 (config-e/f) and NVlabs/stylegan2-ada: "
    "'skip' generator, 'resnet' discriminator"
)


def _check_build_funcs(net: TFNetwork, where: str) -> None:
    for full in net.all_build_funcs():
        if not full:
            continue  # an older dnnlib wrote no name; the variables are still checked one by one
        module, _, func = full.rpartition(".")
        what = _OTHER_FUNCS.get(func)
        if module.endswith("networks_stylegan") and func.startswith(("G_", "D_")):
            what = what or "a StyleGAN (2018) network"
        if what or func not in _KNOWN_FUNCS:
            raise CheckpointError(
                f"{where}: {net.name} is {what or f'built by {full}'}, "
                f"which zizi does not reproduce; {_SUPPORTED}"
            )


def _default_setting(name: str, value: Any, default: Any) -> bool:
    if name == "resample_kernel" and value is not None:
        return [float(x) for x in value] == [float(x) for x in default]
    return value == default


#: Static kwargs that change a network's maths, with the only value zizi's networks compute.
_FIXED = {
    "nonlinearity": "lrelu",
    "mapping_nonlinearity": "lrelu",
    "resample_kernel": [1, 3, 3, 1],
    "fmap_decay": 1,
    "normalize_latents": True,
    "use_noise": True,
    "use_spectral_norm": False,
    "use_pagan": False,
    "adaptive_dropout": 0,
    "score_size": 1,
    "score_max": 1,
}


def _check_settings(kw: dict[str, Any], what: str, where: str) -> None:
    """Refuse, by name, any static setting whose maths zizi does not implement."""
    for name, default in _FIXED.items():
        if name in kw and not _default_setting(name, kw[name], default):
            raise CheckpointError(
                f"{where}: the {what} was built with {name}={kw[name]!r}, which "
                f"zizi does not implement (only {name}={default!r}); importing it "
                "would compute different images"
            )


def _arch_error(
    where: str, what: str, arch: str, supported: str, hint: str = ""
) -> CheckpointError:
    return CheckpointError(
        f"{where}: {what} architecture {arch!r} is not supported (zizi implements "
        f"StyleGAN2's {supported!r} {what}){hint}"
    )


def _d_architecture(net: TFNetwork, names: Any) -> str:
    arch = net.all_static_kwargs().get("architecture")
    if arch is not None:
        return str(arch)
    if any(k.endswith("/Skip/weight") for k in names):
        return "resnet"
    return "skip" if sum(k.endswith("/FromRGB/weight") for k in names) > 1 else "orig"


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
    extra: dict[str, Any] = {}
    if "D" in nets:
        arch = _d_architecture(D, D.flat_variables())
        if arch != "resnet":
            if which is None:
                raise _arch_error(
                    where,
                    "discriminator",
                    arch,
                    "resnet",
                    "; to import the generator alone, add --which G_ema",
                )
            del nets["D"]  # the user asked for a generator: take it without the discriminator
            extra["tf_discriminator_skipped"] = (
                f"discriminator architecture {arch!r} is not supported"
            )
    tensors: dict[str, dict[str, Any]] = {}
    g_cfg = d_cfg = None
    for name, net in nets.items():
        _check_build_funcs(net, where)
        if name == "D":
            d_cfg, tensors[name] = _convert_d(net, where)
        else:
            cfg, tensors[name] = _convert_g(net, where)
            if g_cfg is not None and cfg != g_cfg:
                raise CheckpointError(f"{where}: G and Gs have different architectures")
            g_cfg = cfg
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


#: Variables a finished network carries that hold no weights: `lod` (progressive-growing
#: level of detail) is always 0 once training ends, and stylegan2's graphs never read it.
_IGNORED = {"lod"}


class _Vars:
    """The TF variables of one network; pops what is used so leftovers can be refused."""

    def __init__(self, net: TFNetwork, where: str) -> None:
        self.v = {k: a for k, a in net.flat_variables().items() if k not in _IGNORED}
        self.where = f"{where} ({net.name})"

    def has(self, name: str) -> bool:
        return name in self.v

    def take(self, name: str):
        import torch

        if name not in self.v:
            raise CheckpointError(f"{self.where}: variable {name} is missing")
        return torch.from_numpy(self.v.pop(name).astype("float32", copy=True))

    def done(self) -> None:
        if self.v:
            names = sorted(self.v)
            raise CheckpointError(
                f"{self.where}: variables zizi does not know how to use: {', '.join(names[:4])}"
                f"{'…' if len(names) > 4 else ''} "
                "(importing without them would compute different images)"
            )


def _conv_weight(w, flip: bool):
    # TF [k, k, in, out] -> [out, in, k, k]; the generator's upsampling convs were
    # transposed convolutions in TF, whose kernel is the spatial mirror of ours.
    if flip:
        w = w.flip(0, 1)
    return w.permute(3, 2, 0, 1).contiguous()


def _clamp(kw: dict[str, Any]) -> float | None:
    v = kw.get("conv_clamp")
    return None if v is None else float(v)


def _convert_g(net: TFNetwork, where: str):
    v = _Vars(net, where)
    kw = net.all_static_kwargs()
    _check_settings(kw, "generator", where)
    if any(k.startswith("mapping/LabelConcat") for k in v.v):
        raise CheckpointError(
            f"{where}: conditional NVlabs/stylegan2 generators (LabelConcat) are not supported; "
            "zizi reads conditional TF networks from stylegan2-ada (LabelEmbed)"
        )
    arch = str(kw.get("architecture", "skip"))
    if arch == "skip" and any(
        k.endswith("/Skip/weight") for k in v.v if k.startswith("synthesis/")
    ):
        arch = "resnet"
    if arch != "skip":
        raise _arch_error(where, "generator", arch, "skip")
    sd: dict[str, Any] = {}
    c_dim = 0
    embed_features = None
    if v.has("mapping/LabelEmbed/weight"):
        w = v.take("mapping/LabelEmbed/weight")  # [label_size, fmaps]
        c_dim, embed_features = int(w.shape[0]), int(w.shape[1])
        sd["mapping.embed.weight"] = w.t().contiguous()
        sd["mapping.embed.bias"] = v.take("mapping/LabelEmbed/bias")
    if int(kw.get("label_size", 0) or 0) != c_dim:
        raise CheckpointError(
            f"{where}: label_size={kw.get('label_size')} but the mapping network "
            f"embeds {c_dim} labels"
        )
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
    v.done()

    channels = generator_channels(sd)
    base, cmax = _schedule(channels, kw, where)
    fc0 = sd["mapping.fc0.weight"]
    z_dim, layer_features = int(fc0.shape[1]) - (embed_features or 0), int(fc0.shape[0])
    w_dim = int(sd["mapping.w_avg"].shape[0])
    beta = kw.get("dlatent_avg_beta", 0.995)
    cfg = GeneratorConfig(
        z_dim=z_dim,
        c_dim=c_dim,
        w_dim=w_dim,
        img_resolution=max(resolutions),
        img_channels=int(sd[f"synthesis.b{max(resolutions)}.torgb.weight"].shape[0]),
        channel_base=base,
        channel_max=cmax,
        num_fp16_res=int(kw.get("num_fp16_res", 0) or 0),
        conv_clamp=_clamp(kw),
        mapping=MappingConfig(
            num_layers=num_layers,
            lr_multiplier=float(kw.get("mapping_lrmul", 0.01)),
            w_avg_beta=None if beta is None else float(beta),
            layer_features=layer_features if num_layers > 1 and layer_features != w_dim else None,
            embed_features=embed_features if c_dim and embed_features != w_dim else None,
        ),
    )
    return cfg, sd


def _mbstd_group_size(net: TFNetwork, kw: dict[str, Any]) -> int | None:
    # When the pickle omits it, each codebase's own default applies: NVlabs/stylegan2's
    # D_stylegan2 used 4 (config-f pickles omit it), stylegan2-ada's D_main None (the whole
    # minibatch). NVIDIA's PyTorch converter always assumes None; zizi follows the graph
    # that trained the network.
    if "mbstd_group_size" in kw:
        g = kw["mbstd_group_size"]
        return None if g is None else int(g)
    return None if net.build_func.rpartition(".")[2] == "D_main" else 4


def _convert_d(net: TFNetwork, where: str):
    v = _Vars(net, where)
    kw = net.all_static_kwargs()
    _check_settings(kw, "discriminator", where)
    tops = [int(k.split("x")[0]) for k in v.v if k.endswith("/FromRGB/weight")]
    if len(tops) != 1:
        raise CheckpointError(
            f"{where}: expected one FromRGB layer in the discriminator, found {len(tops)}"
        )
    top = tops[0]
    sd: dict[str, Any] = {}
    c_dim = int(kw.get("label_size", 0) or 0)
    out_w = v.v.get("Output/weight")
    if (
        c_dim
        and not v.has("LabelEmbed/weight")
        or out_w is not None
        and out_w.shape[-1] != 1
        and not v.has("LabelEmbed/weight")
    ):
        raise CheckpointError(
            f"{where}: conditional NVlabs/stylegan2 discriminators (labels projected on Output) "
            "are not supported; zizi reads conditional TF networks from stylegan2-ada (LabelEmbed)"
        )
    mapping = MappingConfig(w_avg_beta=None)
    cmap_dim = None
    if v.has("LabelEmbed/weight"):
        w = v.take("LabelEmbed/weight")  # [label_size, cmap_dim]
        c_dim, cmap_dim = int(w.shape[0]), int(w.shape[1])
        sd["mapping.embed.weight"] = w.t().contiguous()
        sd["mapping.embed.bias"] = v.take("LabelEmbed/bias")
        i = 0
        while v.has(f"Mapping{i}/weight"):
            sd[f"mapping.fc{i}.weight"] = v.take(f"Mapping{i}/weight").t().contiguous()
            sd[f"mapping.fc{i}.bias"] = v.take(f"Mapping{i}/bias")
            i += 1
        mapping = MappingConfig(
            num_layers=i, lr_multiplier=float(kw.get("mapping_lrmul", 0.1)), w_avg_beta=None
        )
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
    v.done()
    base, cmax = _schedule(discriminator_channels(sd), kw, where)
    cfg = DiscriminatorConfig(
        c_dim=c_dim,
        img_resolution=top,
        img_channels=int(sd[f"b{top}.fromrgb.weight"].shape[1]),
        channel_base=base,
        channel_max=cmax,
        num_fp16_res=int(kw.get("num_fp16_res", 0) or 0),
        conv_clamp=_clamp(kw),
        cmap_dim=cmap_dim,
        mbstd_group_size=_mbstd_group_size(net, kw),
        mbstd_num_channels=int(kw.get("mbstd_num_features", 1)),
        mapping=mapping,
    )
    return cfg, sd


def _schedule(channels: dict[int, int], kw: dict[str, Any], where: str) -> tuple[int, int]:
    base, cmax = channel_schedule(channels, where)
    if "fmap_base" in kw:
        # TF counted channels per stage (r/2), so its fmap_base is half of channel_base.
        declared = 2 * int(kw["fmap_base"])
        if all(min(declared // r, cmax) == c for r, c in channels.items()):
            base = declared
    return base, cmax
