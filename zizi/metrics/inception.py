"""The Inception network for FID/KID, from a file the person supplies (never downloaded).

What loads, and what it can do:

- pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (a state dict; also the same
  tensors saved by newer torch as a zip) is read as tensors only
  (`torch.load(weights_only=True)`, after the zip-bomb check of `zizi.io.zipcheck`) into
  zizi's own `zizi.metrics.inception_net.InceptionV3`. Nothing from the file runs. This is
  the safe file, and the one to share.
- NVIDIA's detector, `inception-2015-12-05.pt` (stylegan2-ada) or `.pkl` (stylegan3/EDM),
  is TorchScript: a program, not only weights. `torch.jit.load` runs the archive's
  `__setstate__` and its `forward` runs on every batch, and both can call operators such
  as `torch.from_file(path, shared=True)` that write any file the user can write. zizi
  therefore refuses TorchScript unless the caller opts in (`allow_torchscript=True`;
  `zizi metrics --trust-torchscript`), for a file whose origin the person vouches for.
  The `.pkl` is read with the allow-list reader (`zizi.io.safe_pickle`, executes nothing)
  to find the TorchScript archive it wraps, which is then under the same rule. A pickle
  holding only Python source and tensors is refused with a message that says which file
  to use.

Every zip (the file, or an archive found inside a pickle) passes the central-directory
check first, so a 1 MB file declaring gigabytes is refused before anything inflates.
Detectors take uint8 images [N, 3, H, W] and return float32 [N, 2048].

Where the file is looked for: `--inception PATH`, then $ZIZI_INCEPTION, then the files
above by name in `<zizi cache>/inception/` ($ZIZI_CACHE or ~/.cache/zizi).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zizi.errors import ZiziError

KNOWN_NAMES = (
    "inception-2015-12-05.pkl",
    "inception-2015-12-05.pt",
    "pt_inception-2015-12-05-6726825d.pth",
)
FEATURES = 2048


class InceptionMissingError(ZiziError):
    """No Inception file was given or found; FID and KID cannot run."""


class InceptionFileError(ZiziError):
    """An Inception file exists but is not one zizi can use."""


class UntrustedTorchScriptError(InceptionFileError):
    """A TorchScript file was given without the opt-in: loading it would run its code."""


TRUST_FLAG = "--trust-torchscript"


def untrusted_message(p: Path | str) -> str:
    return (
        f"{p} is TorchScript: loading it runs code stored in the file, which can write any "
        f"file you can write. zizi reads pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
        f"as tensors only; use that file, or pass {TRUST_FLAG} if you trust where this file "
        f"came from"
    )


def cache_root() -> Path:
    """zizi's cache folder: $ZIZI_CACHE, else $XDG_CACHE_HOME/zizi, else ~/.cache/zizi."""
    env = os.environ.get("ZIZI_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "zizi"


def inception_dir() -> Path:
    return cache_root() / "inception"


def missing_message() -> str:
    return (
        f"FID/KID need the Inception network, which zizi never downloads: put "
        f"inception-2015-12-05.pt (or .pkl, stylegan2-ada/stylegan3) or pytorch-fid's "
        f"pt_inception-2015-12-05-6726825d.pth in {inception_dir()}, or pass --inception PATH "
        f"(or set ZIZI_INCEPTION)"
    )


def find_inception(path: str | os.PathLike | None = None) -> Path:
    """The Inception file to use, or InceptionMissingError saying where to put one."""
    if path is None and os.environ.get("ZIZI_INCEPTION"):
        path = os.environ["ZIZI_INCEPTION"]
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise InceptionMissingError(f"Inception file not found: {p}. " + missing_message())
        return p
    for name in KNOWN_NAMES:
        p = inception_dir() / name
        if p.is_file():
            return p
    raise InceptionMissingError(missing_message())


@dataclass
class Detector:
    """An Inception feature extractor: uint8 images [N, 3, H, W] -> float32 [N, 2048]."""

    fn: Callable[[Any], Any]
    kind: str  # "torchscript" | "pytorch-fid"
    tag: str  # identifies the weights, for cache keys: kind + file hash prefix
    device: Any
    net: Any = None  # the loaded module (TorchScript or InceptionV3)
    features: int = FEATURES  # feature size the detector must return (pool3: 2048)

    def __call__(self, images):
        import torch

        with torch.no_grad():
            try:
                feats = self.fn(images.to(self.device))
            except (RuntimeError, TypeError, ValueError) as e:
                if self.kind != "torchscript":
                    raise
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise InceptionFileError(
                    f"the TorchScript Inception network failed on a batch of images ({first}); "
                    "is this NVIDIA's inception-2015-12-05 detector?"
                ) from None
        if not isinstance(feats, torch.Tensor):
            raise InceptionFileError(
                f"the Inception network returned a {type(feats).__name__}, "
                "not a tensor of features; is this the FID Inception file?"
            )
        if feats.ndim != 2 or feats.shape[1] != self.features:
            raise InceptionFileError(
                f"the Inception network returned features of shape {tuple(feats.shape)}, "
                f"not [N, {self.features}]; is this the FID Inception file?"
            )
        return feats.to(torch.float32).cpu()


def file_tag(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_inception(
    path: str | os.PathLike | None = None, device: Any = "cpu", *, allow_torchscript: bool = False
) -> Detector:
    """Load the Inception file at `path` (or the one `find_inception` finds).

    TorchScript runs code from the file, so it is refused (`UntrustedTorchScriptError`)
    unless `allow_torchscript`; a state dict of tensors always loads.
    """
    import torch

    p = find_inception(path)
    device = torch.device(device)
    with open(p, "rb") as f:
        head = f.read(4)
    tag = file_tag(p)
    if head.startswith(b"PK\x03\x04"):
        _check_zip(p, p.stat().st_size, str(p))
        if _is_torchscript_zip(p):
            if not allow_torchscript:
                raise UntrustedTorchScriptError(untrusted_message(p))
            return _torchscript_detector(_jit_load(p, p), f"torchscript-{tag}", device)
        return _state_dict_detector(p, _torch_load(p), f"pytorch-fid-{tag}", device)
    if head[:1] == b"\x80":
        import warnings

        try:  # a legacy torch.save file (pytorch-fid's .pth is one): tensors only
            with warnings.catch_warnings():  # torch warns about pickles it then refuses anyway
                warnings.simplefilter("ignore", UserWarning)
                state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception:
            state = None
        if isinstance(state, dict):
            return _state_dict_detector(p, state, f"pytorch-fid-{tag}", device)
        return _torchscript_detector(
            _jit_from_pickle(p, allow_torchscript), f"torchscript-{tag}", device
        )
    raise InceptionFileError(
        f"{p} is neither a TorchScript archive, a pickle nor a torch state "
        f"dict; {missing_message()}"
    )


def _check_zip(file: Any, size: int, where: str) -> None:
    """The zip-bomb check every zip zizi opens passes (`zizi.io.zipcheck`)."""
    from zizi.errors import CheckpointError
    from zizi.io.zipcheck import check_zip_sizes

    try:
        check_zip_sizes(file, size, where)
    except CheckpointError as e:
        raise InceptionFileError(str(e)) from None


def _is_torchscript_zip(p: Path) -> bool:
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except zipfile.BadZipFile as e:
        raise InceptionFileError(f"{p} is a damaged zip file: {e}") from e
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _jit_load(src: Any, where: Path):
    import warnings

    import torch

    try:
        with (
            warnings.catch_warnings()
        ):  # newer torch flags TorchScript as deprecated; it still loads
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(src, map_location="cpu").eval()
    except Exception as e:
        raise InceptionFileError(f"{where}: TorchScript archive could not be loaded: {e}") from e


def _torch_load(p: Path) -> Any:
    import torch

    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise InceptionFileError(
            f"{p}: not a tensors-only torch file ({str(e).splitlines()[0]})"
        ) from e


def _jit_from_pickle(p: Path, allow_torchscript: bool):
    """NVIDIA's .pkl: read with the allow-list reader, then (only when trusted) load the
    TorchScript it wraps."""
    from zizi.errors import CheckpointError
    from zizi.io.safe_pickle import safe_load

    try:
        with open(p, "rb") as f:
            obj = safe_load(f, what=str(p))
    except CheckpointError as e:
        raise InceptionFileError(
            f"{p} could not be read safely: {e}. Use the TorchScript file "
            f"inception-2015-12-05.pt or pytorch-fid's .pth instead"
        ) from e
    blob = _find_torchscript_bytes(obj)
    if blob is None:
        raise InceptionFileError(
            f"{p} is a pickle ({_describe(obj)}) that wraps no TorchScript archive: its network "
            f"would have to be rebuilt by running Python code stored in the file, which zizi "
            f"never does. Use stylegan2-ada-pytorch's TorchScript inception-2015-12-05.pt or "
            f"pytorch-fid's pt_inception-2015-12-05-6726825d.pth"
        )
    if not allow_torchscript:
        raise UntrustedTorchScriptError(untrusted_message(p))
    return _jit_load(io.BytesIO(blob), p)


def _find_torchscript_bytes(obj: Any, depth: int = 0) -> bytes | None:
    from zizi.io.safe_pickle import PersistentObj

    if depth > 20:
        return None
    if isinstance(obj, (bytes, bytearray)):
        if bytes(obj[:4]) == b"PK\x03\x04":
            _check_zip(io.BytesIO(obj), len(obj), "the TorchScript archive inside the pickle")
            try:
                with zipfile.ZipFile(io.BytesIO(obj)) as z:
                    if any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist()):
                        return bytes(obj)
            except zipfile.BadZipFile:
                return None
        return None
    if isinstance(obj, PersistentObj):
        return _find_torchscript_bytes(obj.meta, depth + 1)
    if isinstance(obj, dict):
        items = obj.values()
    elif isinstance(obj, (list, tuple)):
        items = obj
    else:
        return None
    for v in items:
        found = _find_torchscript_bytes(v, depth + 1)
        if found is not None:
            return found
    return None


def _describe(obj: Any) -> str:
    from zizi.io.safe_pickle import PersistentObj

    if isinstance(obj, PersistentObj):
        return f"a torch_utils.persistence record of class {obj.class_name}"
    return f"a {type(obj).__name__}"


def _torchscript_detector(module, tag: str, device) -> Detector:
    import torch

    module = module.to(device)

    def run(images):
        # NVIDIA's detector takes uint8 pixels and resizes/normalises inside
        return module(images.to(torch.uint8), return_features=True)

    return Detector(run, "torchscript", tag, device, module)


def _state_dict_detector(p: Path, state: Any, tag: str, device) -> Detector:
    import torch

    from zizi.metrics.inception_net import InceptionV3

    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InceptionFileError(f"{p} holds no state dict of tensors; {missing_message()}")
    net = InceptionV3()
    expected = net.state_dict()
    # BatchNorm's step counters are absent from files written by older torch; they are unused
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        what = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {unexpected[:3]}"
            if unexpected
            else f"wrong shape {wrong[:3]}"
        )
        raise InceptionFileError(
            f"{p} is not pytorch-fid's Inception state dict ({what}); {missing_message()}"
        )
    full = {k: state.get(k, expected[k]) for k in expected}
    net.load_state_dict(full, strict=True)
    net = net.eval().requires_grad_(False).to(device)

    def run(images):
        return net(images.to(torch.float32) / 255.0)

    return Detector(run, "pytorch-fid", tag, device, net)
