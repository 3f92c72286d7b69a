"""Writes NVIDIA-PyTorch-structured pickles from zizi networks (test fixtures only).

Each module becomes a `torch_utils.persistence._reconstruct_persistent_obj(meta)` record
with the `_parameters` / `_buffers` / `_modules` / plain-attribute state that the
stylegan2-ada-pytorch codebase writes (FORMATS.md §1). `module_src` is a comment: the
files hold data only. Used to build full-size checkpoints for memory tests and hostile
variants for refusal tests.
"""

from __future__ import annotations

import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

_FAKE_MODULE = "torch_utils.persistence"


def _reconstruct_persistent_obj(meta):  # stand-in: only its pickled *name* matters
    raise RuntimeError("never called by zizi")


def _install_fake_module() -> None:
    if _FAKE_MODULE not in sys.modules:
        pkg = types.ModuleType("torch_utils")
        mod = types.ModuleType(_FAKE_MODULE)
        pkg.persistence = mod
        sys.modules.setdefault("torch_utils", pkg)
        sys.modules[_FAKE_MODULE] = mod
    _reconstruct_persistent_obj.__module__ = _FAKE_MODULE
    sys.modules[_FAKE_MODULE]._reconstruct_persistent_obj = _reconstruct_persistent_obj


class _Record:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


_SIMPLE = (int, float, str, bool, type(None))


def _record(module: nn.Module, frozen: set[str], prefix: str = "") -> _Record:
    params: OrderedDict[str, Any] = OrderedDict()
    buffers: OrderedDict[str, Any] = OrderedDict()
    for name, p in module._parameters.items():
        if p is None:
            continue
        if prefix + name in frozen:  # FreezeD stores frozen weights as buffers
            buffers[name] = p.detach().clone()
        else:
            params[name] = nn.Parameter(p.detach().clone())
    for name, b in module._buffers.items():
        if b is not None:
            buffers[name] = b.detach().clone()
    state: dict[str, Any] = {
        "training": False,
        "_parameters": params,
        "_buffers": buffers,
        "_non_persistent_buffers_set": set(),
        "_modules": OrderedDict(
            (n, _record(m, frozen, f"{prefix}{n}.")) for n, m in module._modules.items()
        ),
    }
    for k, v in vars(module).items():
        if k.startswith("_") or k in state:
            continue
        if isinstance(v, _SIMPLE) or (
            isinstance(v, list) and all(isinstance(x, _SIMPLE) for x in v)
        ):
            state[k] = v
    cls = type(module).__name__
    if cls == "SynthesisBlock":
        state["architecture"] = "skip"
    if cls in ("DiscriminatorBlock", "DiscriminatorEpilogue"):
        state["architecture"] = "resnet"
    state["_init_args"] = ()
    state["_init_kwargs"] = _init_kwargs(module)
    return _Record(
        {
            "type": "class",
            "version": 6,
            "module_src": "# source removed",
            "class_name": cls,
            "state": state,
        }
    )


def _init_kwargs(module: nn.Module) -> dict[str, Any]:
    cfg = getattr(module, "cfg", None)
    if cfg is None:
        return {}
    if type(module).__name__ == "Generator":
        return {
            "z_dim": cfg.z_dim,
            "c_dim": cfg.c_dim,
            "w_dim": cfg.w_dim,
            "img_resolution": cfg.img_resolution,
            "img_channels": cfg.img_channels,
            "mapping_kwargs": {"num_layers": cfg.mapping.num_layers},
            "synthesis_kwargs": {
                "channel_base": cfg.channel_base,
                "channel_max": cfg.channel_max,
                "num_fp16_res": cfg.num_fp16_res,
                "conv_clamp": cfg.conv_clamp,
            },
        }
    return {
        "c_dim": cfg.c_dim,
        "img_resolution": cfg.img_resolution,
        "img_channels": cfg.img_channels,
        "architecture": "resnet",
        "channel_base": cfg.channel_base,
        "channel_max": cfg.channel_max,
        "num_fp16_res": cfg.num_fp16_res,
        "conv_clamp": cfg.conv_clamp,
    }


def write_nvlabs_pickle(
    path: str | Path,
    G: nn.Module,
    D: nn.Module,
    G_ema: nn.Module | None = None,
    augment_p: float | None = None,
    d_frozen: set[str] | None = None,
    extra_entries: dict[str, Any] | None = None,
) -> Path:
    """Pickle {G, D, G_ema, augment_pipe, training_set_kwargs} in the reference structure."""
    _install_fake_module()
    frozen = d_frozen or set()
    data: dict[str, Any] = {
        "G": _record(G, set()),
        "D": _record(D, frozen),
        "G_ema": _record(G_ema if G_ema is not None else G, set()),
        "augment_pipe": None,
        "training_set_kwargs": {
            "class_name": "training.dataset.ImageFolderDataset",
            "path": "~/datasets/test.zip",
            "resolution": G.img_resolution,
        },
    }
    if augment_p is not None:
        pipe = nn.Module()
        pipe.register_buffer("p", torch.tensor(float(augment_p)))
        meta_rec = _record(pipe, set())
        meta_rec.meta["class_name"] = "AugmentPipe"
        data["augment_pipe"] = meta_rec
    data.update(extra_entries or {})
    path = Path(path)
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path
