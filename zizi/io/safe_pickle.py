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
import re
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

    if not isinstance(b, (bytes, bytearray)):
        raise UnsafePickleError("refused to load: a tensor storage record holds no bytes")
    from zizi.io.zipcheck import check_zip_sizes

    if bytes(b[:2]) == b"PK":  # a zip bomb would inflate inside torch.load: check sizes first
        check_zip_sizes(io.BytesIO(b), len(b), "a tensor storage in the checkpoint")
    try:
        return torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:  # the inner pickle is itself untrusted
        raise UnsafePickleError(f"refused to load: a tensor storage {refusal_reason(e)}") from None
    except Exception as e:
        raise CheckpointError(
            f"a tensor storage in the checkpoint is malformed ({type(e).__name__})"
        ) from None


def refusal_reason(e: BaseException) -> str:
    """What torch's weights-only loader refused, without its advice to switch the check off.

    torch suggests re-running with `weights_only=False`; for a file zizi refused as
    unsafe that is exactly the wrong advice, so only the refused global is kept.
    """
    found = re.search(r"GLOBAL ([\w.]+)", str(e))
    if found is None:
        return "is not a plain tensor record, which is not allowed (nothing was executed)"
    name = found.group(1)
    name = name if "." in name else f"builtins.{name}"  # torch names builtins bare
    return f"asks for '{name}', which is not allowed in a weights file (nothing was executed)"


def _rebuild_tensor_v2(*args: Any) -> Any:
    import torch._utils

    return torch._utils._rebuild_tensor_v2(*args)


def _rebuild_parameter(*args: Any) -> Any:
    import torch._utils

    return torch._utils._rebuild_parameter(*args)


#: numpy dtype kinds a checkpoint may hold: bool, signed/unsigned int, float, complex.
NUMERIC_KINDS = frozenset("biufc")


def numeric_dtype(d: Any) -> Any:
    """`d` if it is a plain numeric numpy dtype; otherwise refuse (object, structured, text...)."""
    import numpy as np

    if (
        not isinstance(d, np.dtype)
        or d.kind not in NUMERIC_KINDS
        or d.hasobject
        or d.flags
        or d.names is not None
        or d.subdtype is not None
    ):
        raise UnsafePickleError(
            f"refused to load: numpy dtype {d!r} is not a plain numeric type "
            "(object and structured arrays are not allowed)"
        )
    return d


def numpy_scalar(*args: Any) -> Any:
    """numpy.core.multiarray.scalar(dtype, bytes): how numpy pickles a scalar.

    TF's rank-0 values come this way.
    """
    import numpy as np

    if len(args) != 2 or not isinstance(args[1], (bytes, bytearray)):
        raise UnsafePickleError("refused to load: a numpy scalar record is not (dtype, bytes)")
    dtype = numeric_dtype(args[0])
    if len(args[1]) != dtype.itemsize:
        raise CheckpointError(
            f"a numpy {dtype} scalar holds {len(args[1])} bytes, not {dtype.itemsize}"
        )
    return np.frombuffer(bytes(args[1]), dtype=dtype, count=1)[0]


def numpy_dtype(*args: Any) -> Any:
    """numpy.dtype(spec, align, copy): numeric types only, always a fresh copy.

    The copy matters: the pickle's BUILD then sets the byte order on this object, never on
    numpy's shared built-in dtype.
    """
    import numpy as np

    if not args or not isinstance(args[0], str) or len(args) > 3:
        raise UnsafePickleError("refused to load: a numpy dtype record is not a type name")
    try:
        d = np.dtype(args[0])
    except TypeError as e:
        raise UnsafePickleError(
            f"refused to load: numpy dtype {args[0]!r} is not known ({e})"
        ) from None
    return numeric_dtype(np.dtype(d, copy=True))


class NumpyNdarray:
    """Stand-in for the `numpy.ndarray` global, which a pickle passes to `_reconstruct` as the
    array class. Mapping it to numpy's real class would let the pickle call `ndarray(...)`."""


def numpy_reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
    """numpy.core.multiarray._reconstruct: an empty array that the pickle's BUILD fills in."""
    import numpy as np

    if subtype is not NumpyNdarray:
        raise UnsafePickleError("refused to load: an array of a numpy subclass is not allowed")
    return np.empty(0, dtype=np.int8)


def latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """_codecs.encode(text, 'latin1'): how pickle protocol 2 writes bytes.

    Array and scalar data come this way.
    """
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(
            "refused to load: _codecs.encode used for something other than bytes"
        )
    return text.encode("latin1")


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict` (a dict with attribute access): a plain dict.

    A class, not a function, because protocol 2+ pickles build it with NEWOBJ
    (`cls.__new__(cls)`) and then add its items.
    """


#: numpy's own pickle globals, under numpy 1's (`numpy.core`) and numpy 2's (`numpy._core`)
#: module names, restricted to numeric dtypes.
NUMPY_ALLOW: dict[tuple[str, str], Callable[..., Any]] = {
    **{
        (f"{mod}.multiarray", name): fn
        for mod in ("numpy.core", "numpy._core")
        for name, fn in (("scalar", numpy_scalar), ("_reconstruct", numpy_reconstruct))
    },
    ("numpy", "dtype"): numpy_dtype,
    ("numpy", "ndarray"): NumpyNdarray,
    ("_codecs", "encode"): latin1_bytes,
}

#: Globals NVIDIA PyTorch pickles (stylegan2-ada-pytorch, stylegan3) need, and what zizi
#: returns for each. Anything else is refused.
NVLABS_ALLOW: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    **NUMPY_ALLOW,  # stylegan3-codebase layers keep numpy arrays and scalars in their state
    ("dnnlib.util", "EasyDict"): EasyDict,
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
        isinstance(x, (bytes, bytearray)) and len(x) >= _LARGE_BYTES for x in obj
    )


def check_build(inst: Any, state: Any) -> None:
    """Refuse a BUILD (setstate) that would do more than fill in plain data.

    BUILD sets attributes on the object below it on the stack. On an allowed class or
    function that would rewrite zizi's own code for the rest of the process; on a numpy
    dtype a crafted state could mark raw bytes as object pointers.
    """
    if isinstance(inst, type) or callable(inst):
        name = getattr(inst, "__qualname__", type(inst).__name__)
        raise UnsafePickleError(
            f"refused to load: the pickle tries to set attributes of '{name}' "
            "(nothing was executed)"
        )
    kind = type(inst).__module__
    if not kind.startswith("numpy"):
        return
    import numpy as np

    if isinstance(inst, np.dtype):
        ok = (
            isinstance(state, tuple)
            and len(state) == 8
            and state[0] == 3
            and state[1] in ("<", ">", "|", "=")
            and state[2:] == (None, None, None, -1, -1, 0)
        )
        if not ok:
            raise UnsafePickleError(
                "refused to load: a numpy dtype record is not a plain numeric type"
            )
    elif isinstance(inst, np.ndarray):
        ok = (
            isinstance(state, tuple)
            and len(state) == 5
            and isinstance(state[1], tuple)
            and all(type(n) is int for n in state[1])
            and isinstance(state[4], (bytes, bytearray))
        )
        if not ok:
            raise UnsafePickleError(
                "refused to load: a numpy array record is not plain numeric data"
            )
        numeric_dtype(state[2])
    else:
        raise UnsafePickleError(
            f"refused to load: the pickle tries to set the state of a numpy "
            f"{type(inst).__name__} (nothing was executed)"
        )


class _AllowListUnpickler(pickle._Unpickler):  # the Python unpickler lets us hook memoisation
    def __init__(
        self, file: IO[bytes], allow: Mapping[tuple[str, str], Callable[..., Any]]
    ) -> None:
        super().__init__(file)
        self._allow = allow
        self.dispatch = dict(pickle._Unpickler.dispatch)
        for op, name in (
            (pickle.MEMOIZE, "load_memoize"),
            (pickle.BINPUT, "load_binput"),
            (pickle.LONG_BINPUT, "load_long_binput"),
            (pickle.PUT, "load_put"),
        ):
            self.dispatch[op[0]] = self._lean(getattr(pickle._Unpickler, name))
        for op, name in (
            (pickle.GET, "load_get"),
            (pickle.BINGET, "load_binget"),
            (pickle.LONG_BINGET, "load_long_binget"),
        ):
            self.dispatch[op[0]] = self._checked(getattr(pickle._Unpickler, name))
        self.dispatch[pickle.BUILD[0]] = _AllowListUnpickler._load_build

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
                raise CheckpointError(
                    "the pickle reuses a large byte string; zizi does not support that layout"
                )

        return run

    def _load_build(self) -> None:
        check_build(self.stack[-2], self.stack[-1])
        pickle._Unpickler.load_build(self)
        if type(self.stack[-1]).__module__ == "numpy":  # an array: its dtype came from its state
            numeric_dtype(self.stack[-1].dtype)

    def find_class(self, module: str, name: str) -> Any:
        fn = self._allow.get((module, name))
        if fn is None:
            raise UnsafePickleError(
                f"refused to load: the pickle asks for '{module}.{name}', which is not on zizi's "
                "allow-list of checkpoint contents (nothing was executed)"
            )
        return fn

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            "refused to load: the pickle uses persistent ids (not a checkpoint)"
        )


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
        raise CheckpointError(
            f"{what} is truncated or not a pickle ({str(e) or 'the file ends too early'})"
        ) from e
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as e:
        raise CheckpointError(f"{what} is malformed: {type(e).__name__}: {e}") from e
    except MemoryError as e:
        raise CheckpointError(f"{what} is malformed (it asks for more memory than exists)") from e
