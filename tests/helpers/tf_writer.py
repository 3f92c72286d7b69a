"""Test-only writer of TF-structured StyleGAN2 pickles, built from FORMATS.md §2.

It inverts the conversion rules (names, transposes, flips, the +1 on mod_bias, the noise
index mapping) and pickles stand-ins for `dnnlib.tflib.network.Network` whose state has the
documented fields. The fake `dnnlib` modules exist only inside `fake_tf_modules()`.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types

import numpy as np


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _conv(t, flip: bool) -> np.ndarray:
    w = _np(t).transpose(2, 3, 1, 0)  # [out, in, k, k] -> [k, k, in, out]
    return w[::-1, ::-1].copy() if flip else w.copy()


def g_to_tf(sd: dict, res: int) -> tuple[list, list, list]:
    """(own variables, mapping variables, synthesis variables) of a TF generator."""
    mapping = []
    i = 0
    while f"mapping.fc{i}.weight" in sd:
        mapping += [
            (f"Dense{i}/weight", _np(sd[f"mapping.fc{i}.weight"]).T.copy()),
            (f"Dense{i}/bias", _np(sd[f"mapping.fc{i}.bias"])),
        ]
        i += 1
    syn = [("4x4/Const/const", _np(sd["synthesis.b4.const"])[None])]
    r = 4
    while r <= res:
        log2 = r.bit_length() - 1
        layers = (
            [("Conv", "conv1", False, 0)]
            if r == 4
            else [
                ("Conv0_up", "conv0", True, 2 * log2 - 5),
                ("Conv1", "conv1", False, 2 * log2 - 4),
            ]
        )
        for tf_name, pt_name, flip, n in layers:
            p = f"synthesis.b{r}.{pt_name}"
            syn += [
                (f"{r}x{r}/{tf_name}/weight", _conv(sd[f"{p}.weight"], flip)),
                (f"{r}x{r}/{tf_name}/mod_weight", _np(sd[f"{p}.affine.weight"]).T.copy()),
                (f"{r}x{r}/{tf_name}/mod_bias", _np(sd[f"{p}.affine.bias"]) - 1),
                (f"{r}x{r}/{tf_name}/noise_strength", _np(sd[f"{p}.noise_strength"])),
                (f"{r}x{r}/{tf_name}/bias", _np(sd[f"{p}.bias"])),
                (f"noise{n}", _np(sd[f"{p}.noise_const"])[None, None]),
            ]
        p = f"synthesis.b{r}.torgb"
        syn += [
            (f"{r}x{r}/ToRGB/weight", _conv(sd[f"{p}.weight"], False)),
            (f"{r}x{r}/ToRGB/mod_weight", _np(sd[f"{p}.affine.weight"]).T.copy()),
            (f"{r}x{r}/ToRGB/mod_bias", _np(sd[f"{p}.affine.bias"]) - 1),
            (f"{r}x{r}/ToRGB/bias", _np(sd[f"{p}.bias"])),
        ]
        r *= 2
    own = [("dlatent_avg", _np(sd["mapping.w_avg"]))]
    return own, mapping, syn


def d_to_tf(sd: dict, res: int) -> list:
    out = [
        (f"{res}x{res}/FromRGB/weight", _conv(sd[f"b{res}.fromrgb.weight"], False)),
        (f"{res}x{res}/FromRGB/bias", _np(sd[f"b{res}.fromrgb.bias"])),
    ]
    r = res
    while r > 4:
        out += [
            (f"{r}x{r}/Conv0/weight", _conv(sd[f"b{r}.conv0.weight"], False)),
            (f"{r}x{r}/Conv0/bias", _np(sd[f"b{r}.conv0.bias"])),
            (f"{r}x{r}/Conv1_down/weight", _conv(sd[f"b{r}.conv1.weight"], False)),
            (f"{r}x{r}/Conv1_down/bias", _np(sd[f"b{r}.conv1.bias"])),
            (f"{r}x{r}/Skip/weight", _conv(sd[f"b{r}.skip.weight"], False)),
        ]
        r //= 2
    out += [
        ("4x4/Conv/weight", _conv(sd["b4.conv.weight"], False)),
        ("4x4/Conv/bias", _np(sd["b4.conv.bias"])),
        ("4x4/Dense0/weight", _np(sd["b4.fc.weight"]).T.copy()),
        ("4x4/Dense0/bias", _np(sd["b4.fc.bias"])),
        ("Output/weight", _np(sd["b4.out.weight"]).T.copy()),
        ("Output/bias", _np(sd["b4.out.bias"])),
    ]
    return out


class _Network:
    """Pickles like dnnlib.tflib.network.Network: a class global plus a state dict."""

    def __init__(self, name: str, variables: list, components: dict | None = None, **static_kwargs):
        self.state = {
            "version": 4,
            "name": name,
            "static_kwargs": static_kwargs,
            "components": components or {},
            "build_module_src": "# build code: a reader must never execute this\nraise SystemExit\n",
            "build_func_name": f"training.networks_stylegan2.{name}",
            "variables": variables,
        }

    def __getstate__(self):
        return self.state


def _old_reconstruct():  # stands in for numpy.core.multiarray._reconstruct when pickling
    raise AssertionError("never called")


@contextlib.contextmanager
def fake_tf_modules(old_numpy_names: bool = True):
    """Make `dnnlib.tflib.network.Network` (and the numpy<2 array global) picklable."""
    names = ["dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"]
    saved = {n: sys.modules.get(n) for n in [*names, "numpy.core.multiarray"]}
    try:
        for n in names:
            sys.modules[n] = types.ModuleType(n)
        sys.modules["dnnlib.tflib.network"].Network = _Network
        _Network.__module__, _Network.__qualname__ = "dnnlib.tflib.network", "Network"
        if old_numpy_names:
            fake = types.ModuleType("numpy.core.multiarray")
            fake._reconstruct = _old_reconstruct
            _old_reconstruct.__module__ = "numpy.core.multiarray"
            _old_reconstruct.__qualname__ = "_reconstruct"
            sys.modules["numpy.core.multiarray"] = fake
        yield
    finally:
        _Network.__module__, _Network.__qualname__ = __name__, "_Network"
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Pickler(pickle.Pickler):
    def __init__(self, f, old_numpy_names: bool):
        super().__init__(f, protocol=3)
        self.old = old_numpy_names

    def reducer_override(self, obj):
        if self.old and type(obj) is np.ndarray:
            _, args, state = obj.__reduce__()
            return _old_reconstruct, args, state
        return NotImplemented


def write_tf_pickle(
    path, g_sd: dict, d_sd: dict, gs_sd: dict, res: int, old_numpy_names: bool = True, **g_kwargs
) -> None:
    """Write (G, D, Gs) as the original TF code pickled them."""

    def gen(name, sd):
        own, mapping, syn = g_to_tf(sd, res)
        comps = {
            "mapping": _Network("G_mapping", mapping, **g_kwargs),
            "synthesis": _Network("G_synthesis", syn, resolution=res),
        }
        return _Network(name, own, comps, resolution=res)

    nets = (
        gen("G", g_sd),
        _Network("D", d_to_tf(d_sd, res), resolution=res, mbstd_group_size=4),
        gen("Gs", gs_sd),
    )
    with fake_tf_modules(old_numpy_names), open(path, "wb") as f:
        _Pickler(f, old_numpy_names).dump(nets)
