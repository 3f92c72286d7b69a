"""Test-only writer of TensorFlow-era StyleGAN2 pickles, as TF1 wrote them.

Written from FORMATS.md §2 and the TF graph definitions (NVlabs/stylegan2 `G_main` /
`G_synthesis_stylegan2` / `D_stylegan2`, NVlabs/stylegan2-ada `G_main` / `G_synthesis` /
`D_main`), never from zizi's reader or networks: the variables are generated in TF's own
names and layouts (`[k, k, in, out]` convs, `[in, out]` dense weights, `mod_bias` without
the +1, `noise{n}` as `[1, 1, r, r]`), and `tests/helpers/tf_reference.py` computes what
the TF graph outputs from exactly these variables.

The pickle is what `dnnlib.tflib.network.Network.__getstate__` returned, pickled by
Python 3 with numpy 1: rank-0 variables (`noise_strength`, `lod`) are numpy *scalars*
(`numpy.core.multiarray.scalar(dtype, bytes)`), arrays go through
`numpy.core.multiarray._reconstruct`, and protocols 2, 3 and 4 are all possible.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- variables


@dataclass
class TFSpec:
    """The settings a TF network was built with (the TF names, not zizi's)."""

    resolution: int = 16
    num_channels: int = 3
    latent_size: int = 8
    dlatent_size: int = 8
    label_size: int = 0
    fmap_base: int = 64  # TF's nf(stage) = min(fmap_base / 2**stage, fmap_max)
    fmap_max: int = 16
    mapping_layers: int = 2
    mapping_fmaps: int | None = None
    mapping_lrmul: float = 0.01
    label_fmaps: int | None = None  # G's LabelEmbed width (None: latent_size)
    d_mapping_layers: int = 0  # D's label mapping layers (stylegan2-ada)
    d_mapping_fmaps: int | None = None  # D's cmap width (None: nf(0))
    d_mapping_lrmul: float = 0.1
    mbstd_group_size: int | None = 4
    mbstd_num_features: int = 1
    conv_clamp: float | None = None
    lod: bool = True  # NVlabs/stylegan2's G carries a `lod` variable
    rgb_scale: float = 0.5  # keeps images near [-1, 1]
    g_kwargs: dict[str, Any] = field(default_factory=dict)  # static_kwargs of G (and its parts)
    d_kwargs: dict[str, Any] = field(default_factory=dict)

    def nf(self, stage: int) -> int:
        return int(min(max(int(self.fmap_base / 2.0**stage), 1), self.fmap_max))

    @property
    def log2(self) -> int:
        return self.resolution.bit_length() - 1


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _scalar(x: float) -> np.float32:
    return np.float32(x)  # what session.run returns for a rank-0 variable


def generator_variables(spec: TFSpec, rng: np.random.RandomState) -> dict[str, list]:
    """{'G': own, 'mapping': ..., 'synthesis': ...} lists of (name, value), TF layouts."""
    n = rng.standard_normal
    mapping = []
    if spec.label_size:
        fm = spec.label_fmaps or spec.latent_size
        mapping += [
            ("LabelEmbed/weight", _f32(n((spec.label_size, fm)))),
            ("LabelEmbed/bias", _f32(0.3 * n(fm))),
        ]
    fin = spec.latent_size + ((spec.label_fmaps or spec.latent_size) if spec.label_size else 0)
    for i in range(spec.mapping_layers):
        last = i == spec.mapping_layers - 1
        fout = spec.dlatent_size if last or spec.mapping_fmaps is None else spec.mapping_fmaps
        mapping += [
            (f"Dense{i}/weight", _f32(n((fin, fout)) / spec.mapping_lrmul)),
            (f"Dense{i}/bias", _f32(0.3 * n(fout) / spec.mapping_lrmul)),
        ]
        fin = fout

    num_layers = 2 * spec.log2 - 2
    syn: list = []
    for i in range(num_layers - 1):
        r = 2 ** ((i + 5) // 2)
        syn.append((f"noise{i}", _f32(n((1, 1, r, r)))))

    def modconv(scope, cin, cout, k):
        return [
            (f"{scope}/weight", _f32(n((k, k, cin, cout)))),
            (f"{scope}/mod_weight", _f32(n((spec.dlatent_size, cin)))),
            (f"{scope}/mod_bias", _f32(0.3 * n(cin))),
            (f"{scope}/noise_strength", _scalar(0.5 * n())),
            (f"{scope}/bias", _f32(0.3 * n(cout))),
        ]

    def torgb(scope, cin):
        return [
            (f"{scope}/weight", _f32(spec.rgb_scale * n((1, 1, cin, spec.num_channels)))),
            (f"{scope}/mod_weight", _f32(n((spec.dlatent_size, cin)))),
            (f"{scope}/mod_bias", _f32(0.3 * n(cin))),
            (f"{scope}/bias", _f32(0.1 * n(spec.num_channels))),
        ]

    syn.append(("4x4/Const/const", _f32(n((1, spec.nf(1), 4, 4)))))
    syn += modconv("4x4/Conv", spec.nf(1), spec.nf(1), 3)
    syn += torgb("4x4/ToRGB", spec.nf(1))
    for res in range(3, spec.log2 + 1):
        r = 2**res
        syn += modconv(f"{r}x{r}/Conv0_up", spec.nf(res - 2), spec.nf(res - 1), 3)
        syn += modconv(f"{r}x{r}/Conv1", spec.nf(res - 1), spec.nf(res - 1), 3)
        syn += torgb(f"{r}x{r}/ToRGB", spec.nf(res - 1))
    own = [("dlatent_avg", _f32(n(spec.dlatent_size)))]
    if spec.lod:
        own.append(("lod", _scalar(0.0)))
    return {"G": own, "mapping": mapping, "synthesis": syn}


def discriminator_variables(spec: TFSpec, rng: np.random.RandomState) -> list:
    """D's (name, value) list, 'resnet' architecture, TF layouts."""
    n = rng.standard_normal
    out: list = []
    cmap = spec.d_mapping_fmaps or spec.nf(0)
    if spec.label_size:
        out += [
            ("LabelEmbed/weight", _f32(n((spec.label_size, cmap)))),
            ("LabelEmbed/bias", _f32(0.3 * n(cmap))),
        ]
        for i in range(spec.d_mapping_layers):
            out += [
                (f"Mapping{i}/weight", _f32(n((cmap, cmap)) / spec.d_mapping_lrmul)),
                (f"Mapping{i}/bias", _f32(0.3 * n(cmap) / spec.d_mapping_lrmul)),
            ]
    top = spec.log2
    r = 2**top
    out += [
        (f"{r}x{r}/FromRGB/weight", _f32(n((1, 1, spec.num_channels, spec.nf(top - 1))))),
        (f"{r}x{r}/FromRGB/bias", _f32(0.3 * n(spec.nf(top - 1)))),
    ]
    for res in range(top, 2, -1):
        r = 2**res
        out += [
            (f"{r}x{r}/Conv0/weight", _f32(n((3, 3, spec.nf(res - 1), spec.nf(res - 1))))),
            (f"{r}x{r}/Conv0/bias", _f32(0.3 * n(spec.nf(res - 1)))),
            (f"{r}x{r}/Conv1_down/weight", _f32(n((3, 3, spec.nf(res - 1), spec.nf(res - 2))))),
            (f"{r}x{r}/Conv1_down/bias", _f32(0.3 * n(spec.nf(res - 2)))),
            (f"{r}x{r}/Skip/weight", _f32(n((1, 1, spec.nf(res - 1), spec.nf(res - 2))))),
        ]
    c4 = spec.nf(1)
    out += [
        ("4x4/Conv/weight", _f32(n((3, 3, c4 + spec.mbstd_num_features, c4)))),
        ("4x4/Conv/bias", _f32(0.3 * n(c4))),
        ("4x4/Dense0/weight", _f32(n((c4 * 16, spec.nf(0))))),
        ("4x4/Dense0/bias", _f32(0.3 * n(spec.nf(0)))),
        ("Output/weight", _f32(n((spec.nf(0), cmap if spec.label_size else 1)))),
        ("Output/bias", _f32(0.3 * n(cmap if spec.label_size else 1))),
    ]
    return out


# ----------------------------------------------------------------------------- pickling


class Network:
    """Pickles as `dnnlib.tflib.network.Network` did: the class global, then its state dict."""

    def __init__(
        self,
        name: str,
        func: str,
        variables: list,
        static_kwargs: dict,
        components: dict | None = None,
        version: int = 4,
    ) -> None:
        self.state = {
            "version": version,
            "name": name,
            "static_kwargs": dict(static_kwargs),
            "components": dict(components or {}),
            "build_module_src": "raise SystemExit('a reader must never execute this')\n",
            "build_func_name": func,
            "variables": list(variables),
        }
        if version >= 5:  # stylegan2-ada's dnnlib added the graph's I/O description
            self.state.update(
                input_shapes=[[None, 8]],
                output_shapes=[[None, 3, 16, 16]],
                input_names=["latents_in"],
                output_names=["images_out"],
            )

    def __getstate__(self) -> dict:
        return self.state

    def __setstate__(self, state: dict) -> None:
        self.state = state


def _numpy1_scalar(dtype, data):  # pickled under numpy 1's name; never called here
    raise AssertionError


def _numpy1_reconstruct(subtype, shape, dtype):  # pickled under numpy 1's name; never called here
    raise AssertionError


@contextlib.contextmanager
def _fake_modules(numpy_module: str):
    """Register `dnnlib.tflib.network.Network` and numpy's array/scalar globals under the
    names a TF-era pickle used, so the standard pickler writes those names."""
    names = ["dnnlib", "dnnlib.tflib", "dnnlib.tflib.network", numpy_module]
    saved = {m: sys.modules.get(m) for m in names}
    originals = (Network.__module__, Network.__qualname__)
    try:
        for m in names[:3]:
            sys.modules[m] = types.ModuleType(m)
        sys.modules["dnnlib.tflib.network"].Network = Network
        Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
        fake = types.ModuleType(numpy_module)
        for fn, name in ((_numpy1_scalar, "scalar"), (_numpy1_reconstruct, "_reconstruct")):
            fn.__module__, fn.__qualname__ = numpy_module, name
            setattr(fake, name, fn)
        sys.modules[numpy_module] = fake
        yield
    finally:
        Network.__module__, Network.__qualname__ = originals
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod


class _TFEraPickler(pickle.Pickler):
    """Writes numpy values exactly as numpy's own __reduce__ does, under a chosen module name."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
            state = (1, obj.shape, obj.dtype, order == "F", obj.tobytes(order=order))
            return _numpy1_reconstruct, (np.ndarray, (0,), b"b"), state
        if isinstance(obj, np.generic):
            return _numpy1_scalar, (obj.dtype, obj.tobytes())
        return NotImplemented


def tf_pickle_bytes(
    obj: Any, protocol: int = 4, numpy_module: str = "numpy.core.multiarray"
) -> bytes:
    with _fake_modules(numpy_module):
        buf = io.BytesIO()
        _TFEraPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


STYLEGAN2_FUNCS = {
    "G": "G_main",
    "mapping": "G_mapping",
    "synthesis": "G_synthesis_stylegan2",
    "D": "D_stylegan2",
}
ADA_FUNCS = {"G": "G_main", "mapping": "G_mapping", "synthesis": "G_synthesis", "D": "D_main"}


def tf_networks(
    spec: TFSpec,
    seed: int = 0,
    funcs: dict | None = None,
    version: int = 4,
    d_variables: list | None = None,
) -> tuple[tuple, dict]:
    """((G, D, Gs) Network stand-ins, {'G', 'Gs', 'D': {TF variable name: value}})."""
    rng = np.random.RandomState(seed)
    funcs = funcs or STYLEGAN2_FUNCS

    def gen(name):
        v = generator_variables(spec, rng)
        comps = {
            "mapping": Network(
                "G_mapping",
                funcs["mapping"],
                v["mapping"],
                {**spec.g_kwargs, "dlatent_broadcast": 2 * spec.log2 - 2},
                version=version,
            ),
            "synthesis": Network(
                "G_synthesis", funcs["synthesis"], v["synthesis"], spec.g_kwargs, version=version
            ),
        }
        flat = (
            dict(v["G"])
            | {f"mapping/{k}": a for k, a in v["mapping"]}
            | {f"synthesis/{k}": a for k, a in v["synthesis"]}
        )
        return Network(name, funcs["G"], v["G"], spec.g_kwargs, comps, version=version), flat

    G, g_vars = gen("G")
    d_list = d_variables if d_variables is not None else discriminator_variables(spec, rng)
    D = Network("D", funcs["D"], d_list, spec.d_kwargs, version=version)
    Gs, gs_vars = gen("Gs")
    return (G, D, Gs), {"G": g_vars, "Gs": gs_vars, "D": dict(d_list)}


def write_tf_pickle(
    path,
    spec: TFSpec,
    seed: int = 0,
    protocol: int = 4,
    numpy_module: str = "numpy.core.multiarray",
    funcs: dict | None = None,
    version: int = 4,
) -> dict:
    """Write `(G, D, Gs)` to `path`; returns the TF variables of each network by name."""
    nets, variables = tf_networks(spec, seed, funcs, version)
    with open(path, "wb") as f:
        f.write(tf_pickle_bytes(nets, protocol, numpy_module))
    return variables


def config_f_spec(**kw) -> TFSpec:
    """NVlabs/stylegan2 config-f style: static kwargs are only the dataset's shape.

    The tiny capacity (fmap_base, mapping_layers) is not in the kwargs, exactly as a
    config-f pickle leaves the graph defaults out: a reader must infer it from the shapes.
    """
    spec = TFSpec(**kw)
    shape = {
        "num_channels": spec.num_channels,
        "resolution": spec.resolution,
        "label_size": spec.label_size,
    }
    spec.g_kwargs, spec.d_kwargs = dict(shape), dict(shape)
    return spec


def ada_spec(**kw) -> TFSpec:
    """NVlabs/stylegan2-ada (TF) style: train.py's capacity and fp16 settings in static kwargs."""
    kw.setdefault("lod", False)  # stylegan2-ada's G_main has no lod variable
    spec = TFSpec(**kw)
    shape = {
        "num_channels": spec.num_channels,
        "resolution": spec.resolution,
        "label_size": spec.label_size,
    }
    common = {
        "fmap_base": spec.fmap_base,
        "fmap_max": spec.fmap_max,
        "num_fp16_res": 2,
        "conv_clamp": spec.conv_clamp,
    }
    spec.g_kwargs = {**shape, **common, "mapping_layers": spec.mapping_layers}
    spec.d_kwargs = {**shape, **common, "mbstd_group_size": spec.mbstd_group_size}
    if spec.label_size:
        spec.d_kwargs["mapping_layers"] = spec.d_mapping_layers
    return spec
