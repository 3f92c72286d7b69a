"""An allow-list unpickler for untrusted checkpoints.

A pickle is a program: unpickling calls whatever global it names. Checkpoints come from
forums and friends, so zizi reads them with an Unpickler whose `find_class` returns only
stand-ins and data constructors from an explicit allow-list, and refuses everything else
before anything runs. Embedded source code (NVIDIA's `module_src`) is kept as a string
and never executed.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import IO, Any

from zizi.errors import CheckpointError, UnsafePickleError


class PersistentObj:
    """Stand-in for an object NVIDIA's `persistence` module pickled: keeps its `meta` dict."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    @property
    def class_name(self) -> str:
        return str(self.meta.get("class_name", "?"))

    @property
    def state(self) -> dict[str, Any]:
        state = self.meta.get("state")
        return state if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"PersistentObj({self.class_name})"


def _reconstruct_persistent_obj(meta: Any) -> PersistentObj:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("persistent object record is malformed (expected a class meta dict)")
    return PersistentObj(meta)


def _load_storage_bytes(b: bytes) -> Any:
    """torch.storage._load_from_bytes, but the inner torch.save blob is read weights_only."""
    import torch

    from zizi.io.zipcheck import check_zip_sizes

    if bytes(b[:2]) == b"PK":  # a zip bomb would inflate inside torch.load: check sizes first
        check_zip_sizes(io.BytesIO(b), len(b), "a tensor storage in the checkpoint")
    try:
        return torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")
    except Exception as e:  # the inner pickle is itself untrusted
        raise CheckpointError(f"a tensor storage in the checkpoint could not be read safely: {e}") from e


def _rebuild_tensor_v2(*args: Any) -> Any:
    import torch._utils

    return torch._utils._rebuild_tensor_v2(*args)


def _rebuild_parameter(*args: Any) -> Any:
    import torch._utils

    return torch._utils._rebuild_parameter(*args)


def _numpy_scalar(*args: Any) -> Any:
    import numpy as np

    dtype, data = args[0], args[1] if len(args) > 1 else None
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy scalar with an object dtype is not allowed")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(*args: Any) -> Any:
    import numpy as np

    d = np.dtype(*args)
    if d.hasobject:
        raise UnsafePickleError("numpy object dtype is not allowed")
    return d


def _easydict(*args: Any, **kwargs: Any) -> dict:
    return dict(*args, **kwargs)


#: Globals NVIDIA PyTorch pickles (stylegan2-ada-pytorch, stylegan3) need, and what zizi
#: returns for each. Anything else is refused.
NVLABS_ALLOW: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
    ("dnnlib.util", "EasyDict"): _easydict,
    # builtins that plain data pickles legitimately reference
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
}


class _DroppedBytes:
    """Memo placeholder for a large bytes object that the pickle never refers to again."""


# Large byte strings (tensor storages), and the argument tuples holding them, are memoised
# by the pickler but used only once, by the storage loader. Keeping them in the memo would
# hold a second copy of every weight until the load ends (2x the file in RAM), so they are
# memoised as a placeholder; a later reference to one is refused.
_LARGE_BYTES = 1 << 16


def _is_large_bytes(obj: Any) -> bool:
    if isinstance(obj, (bytes, bytearray)):
        return len(obj) >= _LARGE_BYTES
    return isinstance(obj, tuple) and any(
        isinstance(x, (bytes, bytearray)) and len(x) >= _LARGE_BYTES for x in obj)


class _AllowListUnpickler(pickle._Unpickler):  # the Python unpickler lets us hook memoisation
    def __init__(self, file: IO[bytes], allow: Mapping[tuple[str, str], Callable[..., Any]]) -> None:
        super().__init__(file)
        self._allow = allow
        self.dispatch = dict(pickle._Unpickler.dispatch)
        for op, name in ((pickle.MEMOIZE, "load_memoize"), (pickle.BINPUT, "load_binput"),
                         (pickle.LONG_BINPUT, "load_long_binput"), (pickle.PUT, "load_put")):
            self.dispatch[op[0]] = self._lean(getattr(pickle._Unpickler, name))
        for op, name in ((pickle.GET, "load_get"), (pickle.BINGET, "load_binget"),
                         (pickle.LONG_BINGET, "load_long_binget")):
            self.dispatch[op[0]] = self._checked(getattr(pickle._Unpickler, name))

    def _lean(self, memoize: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(unpickler: _AllowListUnpickler) -> None:
            top = unpickler.stack[-1] if unpickler.stack else None
            if _is_large_bytes(top):
                unpickler.stack[-1] = _DroppedBytes()
                memoize(unpickler)
                unpickler.stack[-1] = top
            else:
                memoize(unpickler)
        return run

    def _checked(self, get: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(unpickler: _AllowListUnpickler) -> None:
            get(unpickler)
            if isinstance(unpickler.stack[-1], _DroppedBytes):
                raise CheckpointError("the pickle reuses a large byte string; zizi does not support that layout")
        return run

    def find_class(self, module: str, name: str) -> Any:
        fn = self._allow.get((module, name))
        if fn is None:
            raise UnsafePickleError(
                f"refused to load: the pickle asks for '{module}.{name}', which is not on zizi's "
                "allow-list of checkpoint contents (nothing was executed)")
        return fn

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused to load: the pickle uses persistent ids (not a checkpoint)")


def safe_load(
    file: IO[bytes],
    allow: Mapping[tuple[str, str], Callable[..., Any]] = NVLABS_ALLOW,
    what: str = "checkpoint",
) -> Any:
    """Unpickle `file` allowing only the globals in `allow`; never executes anything else."""
    try:
        return _AllowListUnpickler(file, allow).load()
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"{what} is truncated or not a pickle ({str(e) or 'the file ends too early'})") from e
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as e:
        raise CheckpointError(f"{what} is malformed: {type(e).__name__}: {e}") from e
    except MemoryError as e:
        raise CheckpointError(f"{what} is malformed (it asks for more memory than exists)") from e
