"""The pickle allow-lists are pinned, and hostile pickles are refused by every importer.

ALLOWED_* below are reviewed constants: changing what zizi lets a pickle name must be a
deliberate edit here too. One extra entry such as ("builtins", "getattr") turns the
"safe" loader into `getattr(getattr(getattr, '__self__'), 'eval')(...)`.
"""

from __future__ import annotations

import collections
import copyreg
import functools
import operator
import os
import pickle
import subprocess

import pytest
import torch

from tests.helpers.tf_writer import Network, tf_pickle_bytes
from zizi.errors import UnsafePickleError
from zizi.io.importers import detect_format, import_checkpoint
from zizi.io.rosinality import rosinality_safe_globals
from zizi.io.safe_pickle import NVLABS_ALLOW
from zizi.io.tf_pickle import tf_allow

_NUMPY = {
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("_codecs", "encode"),
}
ALLOWED_NVLABS = _NUMPY | {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"),
    ("torch.storage", "_load_from_bytes"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("collections", "OrderedDict"),
    ("dnnlib.util", "EasyDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
}
ALLOWED_TF = ALLOWED_NVLABS | {
    ("dnnlib.tflib.network", "Network"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
}
# Beyond torch's own weights-only set (tensors, storages, OrderedDict...):
ALLOWED_ROSINALITY = {
    "argparse.Namespace",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    *(
        f"numpy.dtypes.{n}DType"
        for n in (
            "Bool",
            "Byte",
            "UByte",
            "Short",
            "UShort",
            "Int",
            "UInt",
            "Long",
            "ULong",
            "LongLong",
            "ULongLong",
            "Half",
            "Float",
            "Double",
            "LongDouble",
            "CFloat",
            "CDouble",
            "CLongDouble",
        )
    ),
}
# Plain data types an allow-list may return as themselves; everything else is a zizi stand-in.
_PLAIN = {collections.OrderedDict, set, frozenset, slice, complex, object}


def test_nvlabs_allow_list_is_pinned():
    assert set(NVLABS_ALLOW) == ALLOWED_NVLABS


def test_tf_allow_list_is_pinned():
    assert set(tf_allow()) == ALLOWED_TF


def test_rosinality_safe_globals_are_pinned():
    import numpy as np

    names = set()
    for g in rosinality_safe_globals():
        if isinstance(g, tuple):
            names.add(g[1])
        else:
            names.add(f"{g.__module__}.{g.__qualname__}")
    aliases = {f"numpy.dtypes.{type(np.dtype(c)).__name__}" for c in np.typecodes["All"]}
    assert names <= ALLOWED_ROSINALITY | aliases and names >= {
        "argparse.Namespace",
        "numpy.dtype",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
    }
    assert all(
        n.startswith("numpy.dtypes.")
        for n in names
        - {
            "argparse.Namespace",
            "numpy.dtype",
            "numpy.core.multiarray.scalar",
            "numpy._core.multiarray.scalar",
        }
    )


@pytest.mark.parametrize("allow", [NVLABS_ALLOW, tf_allow()], ids=["nvlabs", "tf"])
def test_allowed_globals_are_stand_ins_or_plain_types(allow):
    for key, fn in allow.items():
        assert fn in _PLAIN or getattr(fn, "__module__", "").startswith("zizi."), key


# ----------------------------------------------------------------------------- hostile files


class R:
    """Pickles as a call `func(*args)`: the building block of every gadget below."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *a):  # pickle only checks that func is callable
        raise AssertionError


class ReduceEx:
    """Overrides __reduce_ex__ (what pickle actually calls) to smuggle os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce_ex__(self, protocol):
        return os.system, (f"touch {self.marker}",)


def _gadgets(marker) -> dict:
    # protocol 2 writes Python 2 module names (__builtin__, copy_reg, commands): refused as written
    touch = f"open({str(marker)!r}, 'w').close()"
    builtins_mod = R(getattr, (getattr, "__self__"))
    return {
        "getattr-chain": (
            R(R(getattr, (builtins_mod, "eval")), (touch,)),
            r"(builtins|__builtin__)\.getattr",
        ),
        "attrgetter": (
            R(
                R(R(operator.attrgetter, ("system",)), (R(__import__, ("os",)),)),
                (f"touch {marker}",),
            ),
            r"operator\.attrgetter",
        ),
        "partial": (
            R(R(functools.partial, (os.system, f"touch {marker}")), ()),
            r"functools\.partial",
        ),
        "copyreg": (
            R(copyreg._reconstructor, (subprocess.Popen, subprocess.Popen, ["touch", str(marker)])),
            r"(copyreg|copy_reg)\._reconstructor|(subprocess|commands)\.Popen",
        ),
        "reduce_ex": (ReduceEx(marker), r"(posix|os|nt)\.system"),
    }


_RAW = {  # what Python's pickler will not write: hand-made opcodes
    "FunctionType": (b"\x80\x02ctypes\nFunctionType\n)R.", r"types\.FunctionType"),
}


def _as(importer: str, payload, path, protocol: int = 4):
    if importer == "nvlabs":
        path.write_bytes(pickle.dumps({"G": payload, "D": None}, protocol=protocol))
    elif importer == "tf":
        nets = (Network("G", "G_main", [], {"x": payload}), None, None)
        path.write_bytes(tf_pickle_bytes(nets, protocol=protocol))
    else:
        torch.save({"g_ema": {}, "args": payload}, path)
    return path


@pytest.mark.parametrize(
    "importer,fmt", [("nvlabs", "nvlabs"), ("tf", "tf"), ("rosinality", "torch")]
)
@pytest.mark.parametrize(
    "gadget", ["getattr-chain", "attrgetter", "partial", "copyreg", "reduce_ex"]
)
@pytest.mark.parametrize("protocol", [2, 4])  # 2 writes Python 2 module names, 3+ Python 3 ones
def test_gadgets_refused_by_name_and_never_run(tmp_path, importer, fmt, gadget, protocol):
    marker = tmp_path / "pwned"
    payload, name = _gadgets(marker)[gadget]
    path = _as(importer, payload, tmp_path / "evil.bin", protocol)
    assert detect_format(path) == fmt
    with pytest.raises(UnsafePickleError, match=name) as e:
        import_checkpoint(path)
    assert "weights_only" not in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("importer", ["nvlabs", "tf", "rosinality"])
def test_function_type_refused_by_name(tmp_path, importer):
    raw, name = _RAW["FunctionType"]
    path = tmp_path / "f.bin"
    if importer == "nvlabs":
        path.write_bytes(raw)
    elif importer == "tf":  # the TF tuple, with the raw call as G's static kwargs
        head = tf_pickle_bytes((Network("G", "G_main", [], {}), None, None), protocol=2)
        path.write_bytes(head[:2] + b"cdnnlib.tflib.network\nNetwork\n0" + raw[2:])
    else:
        import io
        import zipfile

        buf = io.BytesIO()
        torch.save({"g_ema": {}}, buf)
        zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
        with zipfile.ZipFile(path, "w") as zout:
            for item in zin.infolist():
                data = raw if item.filename.endswith("data.pkl") else zin.read(item)
                zout.writestr(item, data)
    with pytest.raises(UnsafePickleError, match=name):
        import_checkpoint(path)


@pytest.mark.parametrize(
    "importer,target",
    [
        ("nvlabs", b"collections\nOrderedDict"),
        ("nvlabs", b"torch._utils\n_rebuild_tensor_v2"),
        ("tf", b"dnnlib.tflib.network\nNetwork"),
    ],
)
def test_build_cannot_rewrite_an_allowed_class_or_function(tmp_path, importer, target):
    """BUILD (setstate) on an allowed global would patch zizi's own code for the process."""
    from zizi.io.tf_pickle import TFNetwork

    # c<target>  (None, {'flat_variables': set})  BUILD
    data = b"\x80\x02c" + target + b"\nN}X\x0e\x00\x00\x00flat_variablescbuiltins\nset\ns\x86b."
    if importer == "tf":
        data = data.replace(b"\x80\x02", b"\x80\x02cdnnlib.tflib.network\nNetwork\n0", 1)
    path = tmp_path / "b.pkl"
    path.write_bytes(data)
    before = TFNetwork.flat_variables
    with pytest.raises(UnsafePickleError, match="tries to set attributes"):
        import_checkpoint(path)
    assert TFNetwork.flat_variables is before


def test_torch_storage_refusal_gives_no_weights_only_advice(tmp_path):
    """A hostile torch.save blob inside an NVIDIA pickle: say what was refused, nothing else."""
    import io

    marker = tmp_path / "pwned"
    blob = io.BytesIO()
    torch.save(ReduceEx(marker), blob)
    path = tmp_path / "s.pkl"
    path.write_bytes(
        pickle.dumps({"G": R(torch.storage._load_from_bytes, (blob.getvalue(),))}, protocol=2)
    )
    with pytest.raises(UnsafePickleError, match=r"asks for '(posix|os|nt)\.system'") as e:
        import_checkpoint(path)
    assert "weights_only" not in str(e.value) and "Re-run" not in str(e.value)
    assert not marker.exists()


def test_easydict_records_load_as_dicts(tmp_path):
    """stylegan2-ada-pytorch keeps `mapping_kwargs` etc. as dnnlib.EasyDict inside `_init_kwargs`:
    pickled as NEWOBJ of that class, then its items. They load as plain dicts."""
    import sys
    import types

    from zizi.io.safe_pickle import safe_load

    class EasyDict(dict):
        pass

    mods = {n: types.ModuleType(n) for n in ("dnnlib", "dnnlib.util")}
    mods["dnnlib.util"].EasyDict = EasyDict
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    saved = {n: sys.modules.get(n) for n in mods}
    try:
        sys.modules.update(mods)
        data = [
            pickle.dumps({"k": EasyDict(num_layers=2, nested=EasyDict(a=1))}, protocol=p)
            for p in (2, 4)
        ]
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    for d in data:
        assert b"dnnlib.util" in d
        got = safe_load(__import__("io").BytesIO(d))
        assert got == {"k": {"num_layers": 2, "nested": {"a": 1}}} and isinstance(got["k"], dict)
