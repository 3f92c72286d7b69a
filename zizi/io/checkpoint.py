"""zizi's own checkpoint format: one `.safetensors` file, tensors plus a JSON header.

Layout: tensors named `<net>.<param>` (`G_ema.mapping.fc0.weight`, `D.b4.out.bias`, ...)
with parameter names identical to the NVIDIA PyTorch networks, and under the safetensors
metadata key `zizi` a JSON document:

    {"format": "zizi-checkpoint", "format_version": 2,
     "nets": {"G_ema": {"kind": "generator", "config": {...}}, "D": {...}, ...},
     "augment_p": 0.23 | null, "provenance": {...}, "extra": {...},
     "state": ["opt_G", "opt_D", "rng"],          # v2: tensor namespaces beside the nets
     "train": {...} | null,                       # v2: a training snapshot's progress
     "checksum": {"sha256": "<hex of the data section>"}}   # v2

Format 2 adds training state: tensors of the namespaces in `STATE_NAMESPACES` (Adam
moments as `opt_G.<param>.exp_avg`, RNG states as `rng.<name>`) and the `train` section
(images seen, step, data position, ADA p, path-length mean, the resolved run config).
Format 1 files (no state, no checksum) still load. The checksum covers every tensor byte,
so a snapshot damaged after it was written is detected (`verify_checkpoint`).

Loading never unpickles anything. Saving writes a temporary file beside the target and
renames it into place, so a killed process or a full disk never leaves a half-written
checkpoint that looks complete.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zizi.config import DiscriminatorConfig, GeneratorConfig, from_dict, to_dict
from zizi.errors import CheckpointError, WrongFormatError, ZiziError
from zizi.files import atomic_write, remove_stale_temps

if TYPE_CHECKING:
    import torch

    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

FORMAT = "zizi-checkpoint"
FORMAT_VERSION = 2
NetName = Literal["G_ema", "G", "D"]
NET_KINDS: dict[str, str] = {"G_ema": "generator", "G": "generator", "D": "discriminator"}
# Tensor namespaces that are training state, not networks (format 2).
STATE_NAMESPACES = ("opt_G", "opt_D", "rng")

# safetensors dtype names for the dtypes zizi writes
_DTYPES = {
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "float64": "F64",
    "int64": "I64",
    "int32": "I32",
    "uint8": "U8",
    "bool": "BOOL",
}


@dataclass
class Checkpoint:
    """Networks' configs and weights, plus where they came from."""

    g_config: GeneratorConfig
    d_config: DiscriminatorConfig | None
    tensors: dict[str, dict[str, torch.Tensor]]  # net name -> state dict (NVIDIA names)
    augment_p: float | None = None  # ADA augmentation probability at save time
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-able notes (frames: nimg, kimg)
    state: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # namespace -> tensors
    train: dict[str, Any] | None = None  # a training snapshot's progress and config (JSON)

    @property
    def nets(self) -> list[str]:
        return list(self.tensors)

    def config_of(self, net: str) -> GeneratorConfig | DiscriminatorConfig:
        if NET_KINDS[net] == "generator":
            return self.g_config
        if self.d_config is None:
            raise CheckpointError("checkpoint has no discriminator config")
        return self.d_config

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "nets": {
                n: {"kind": NET_KINDS[n], "config": to_dict(self.config_of(n))}
                for n in self.tensors
            },
            "augment_p": self.augment_p,
            "provenance": self.provenance,
            "extra": self.extra,
            "state": list(self.state),
            "train": self.train,
        }


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint, *, overwrite: bool = True) -> Path:
    """Write `ckpt` to `path` atomically (`zizi.files.atomic_write`).

    Temporary files that killed writers left in that folder are removed first.
    `overwrite=False` never replaces a file that exists by the time the write ends.
    """
    path = Path(path)
    for net in ckpt.tensors:
        if net not in NET_KINDS:
            raise CheckpointError(
                f"unknown network name {net!r}; expected one of {sorted(NET_KINDS)}"
            )
    for ns in ckpt.state:
        if ns not in STATE_NAMESPACES:
            raise CheckpointError(
                f"unknown state namespace {ns!r}; expected one of {STATE_NAMESPACES}"
            )
    items = [(f"{net}.{name}", t) for net, sd in ckpt.tensors.items() for name, t in sd.items()]
    items += [(f"{ns}.{name}", t) for ns, sd in ckpt.state.items() for name, t in sd.items()]
    data = [_tensor_bytes(name, t) for name, t in items]
    digest = hashlib.sha256()
    for arr in data:
        digest.update(arr)
    doc = dict(ckpt.header(), checksum={"sha256": digest.hexdigest()})
    meta = {"zizi": json.dumps(doc, sort_keys=True)}
    remove_stale_temps(path.parent)
    with atomic_write(path, "wb", error=CheckpointError, overwrite=overwrite) as f:
        _write_safetensors(f, items, data, meta)
    return path


def _tensor_bytes(name: str, t: torch.Tensor):
    """The tensor's bytes as a flat uint8 numpy array (a view where the tensor is on the CPU)."""
    import torch

    if str(t.dtype).removeprefix("torch.") not in _DTYPES:
        raise CheckpointError(f"tensor {name} has unsupported dtype {t.dtype}")
    t = t.detach().to("cpu").contiguous()
    return t.reshape(-1).view(dtype=torch.uint8).numpy()


def _write_safetensors(
    f, items: list[tuple[str, torch.Tensor]], data: list, metadata: dict[str, str]
) -> None:
    """Write tensors (`data`: their bytes) in the safetensors layout."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, t in items:
        dtype = _DTYPES.get(str(t.dtype).removeprefix("torch."))
        if dtype is None:
            raise CheckpointError(f"tensor {name} has unsupported dtype {t.dtype}")
        nbytes = t.numel() * t.element_size()
        header[name] = {
            "dtype": dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # align the data section
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for arr in data:
        if arr.size:
            f.write(memoryview(arr))


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a zizi checkpoint, validated, without reading any tensor."""
    return _read_raw_header(path)[0]


def tensor_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a zizi checkpoint, without reading the data."""
    raw = _read_raw_header(path)[1]
    return {k: tuple(v["shape"]) for k, v in raw.items() if k != "__metadata__"}


def _read_raw_header(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """(zizi document, safetensors header), both checked: the configs parse and are within
    bounds, every tensor entry is consistent with the file, and each net's tensors are
    exactly those its config implies. A file from someone else can therefore never make
    a later step build a network larger than the weights it actually carries."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise _not_zizi(path)
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 << 20):
            raise _not_zizi(path)
        try:
            header = _json(f.read(n))
        except ValueError:  # not UTF-8, not JSON
            raise _not_zizi(path) from None
        except RecursionError:
            raise _damaged(path, "its JSON header nests too deeply") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or "zizi" not in meta:
        raise _not_zizi(path)
    try:
        doc = _json(meta["zizi"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: the zizi header is corrupt ({e})") from e
    except RecursionError:
        raise _damaged(path, "its zizi document nests too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _not_zizi(path)
    version = doc.get("format_version", 0)
    if not isinstance(version, int):
        raise _damaged(path, f"format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer zizi (format {doc.get('format_version')}); upgrade zizi"
        )
    try:
        configs = _check_nets(doc["nets"])
        for ns in doc.get("state") or []:
            if ns not in STATE_NAMESPACES:
                raise ValueError(f"unknown state namespace {ns!r}")
        expected_end = _check_entries(header)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
        # a hand-edited or damaged header: one line, not a traceback
        raise _damaged(path, str(e) if type(e) is ValueError else f"{type(e).__name__}: {e}") from e
    augment_p = doc.get("augment_p")
    if augment_p is not None and not (isinstance(augment_p, int | float) and 0 <= augment_p <= 1):
        raise _damaged(path, f"augment_p {augment_p!r} is not a probability")
    if size < 8 + n + expected_end:
        raise CheckpointError(
            f"{path} is truncated ({size} bytes, expected {8 + n + expected_end})"
        )
    shapes: dict[str, dict[str, tuple[int, ...]]] = {name: {} for name in configs}
    for key, entry in header.items():
        net, _, name = key.partition(".")
        if net in shapes:
            shapes[net][name] = tuple(entry["shape"])
    for net, cfg in configs.items():
        problem = shape_mismatch(NET_KINDS[net], cfg, shapes[net])
        if problem:
            raise _damaged(path, f"{net}'s tensors do not match its config: {problem}")
    return doc, header


def _json(text: str | bytes) -> Any:
    return json.loads(text)  # NaN passes here; the config bounds then refuse it by name


def _damaged(path: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: the zizi header is damaged ({why}); "
        "the file was not written by zizi or was edited since"
    )


def _check_nets(nets: dict[str, Any]) -> dict[str, GeneratorConfig | DiscriminatorConfig]:
    """Every net entry is a known name with a kind and a config that parses: name -> config."""
    out: dict[str, GeneratorConfig | DiscriminatorConfig] = {}
    if not isinstance(nets, dict) or not nets:
        raise ValueError("no nets")
    for name, entry in nets.items():
        if NET_KINDS.get(name) != entry["kind"]:
            raise ValueError(f"net {name!r} of kind {entry['kind']!r}")
        cls = GeneratorConfig if entry["kind"] == "generator" else DiscriminatorConfig
        try:
            out[name] = from_dict(cls, entry["config"], f"{name} config", typed=False)
        except ZiziError as e:
            raise ValueError(str(e)) from e
    return out


_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}


def _check_entries(header: dict[str, Any]) -> int:
    """Each tensor entry's dtype, shape and byte range agree; returns the end of the data
    (checked against the file's size by the caller: a shorter file is truncated)."""
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        shape, (start, stop) = entry["shape"], entry["data_offsets"]
        item = _DTYPE_BYTES.get(entry["dtype"])
        if item is None:
            raise ValueError(f"tensor {key} has unknown dtype {entry['dtype']!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ValueError(f"tensor {key} has shape {shape!r}")
        if not (type(start) is int and type(stop) is int and 0 <= start <= stop):
            raise ValueError(f"tensor {key} has byte range {start}..{stop}")
        if math.prod(shape) * item != stop - start:
            raise ValueError(
                f"tensor {key} of shape {shape} does not fill its {stop - start} bytes"
            )
        end = max(end, stop)
    return end


def expected_shapes(
    kind: str, cfg: GeneratorConfig | DiscriminatorConfig
) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor a network of `cfg` stores, built on torch's meta device
    (no memory is allocated for the weights)."""
    return dict(_expected_shapes(kind, cfg))


@functools.lru_cache(maxsize=16)  # a renderer reads hundreds of frames of one config
def _expected_shapes(
    kind: str, cfg: GeneratorConfig | DiscriminatorConfig
) -> dict[str, tuple[int, ...]]:
    import torch

    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    with torch.device("meta"):
        net = Generator(cfg) if kind == "generator" else Discriminator(cfg)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def shape_mismatch(
    kind: str, cfg: GeneratorConfig | DiscriminatorConfig, got: dict[str, tuple[int, ...]]
) -> str | None:
    """What differs between `got` (name -> shape) and a network of `cfg`, or None."""
    expected = expected_shapes(kind, cfg)
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != tuple(got[k]))
    if not (missing or unexpected or wrong):
        return None
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}")
    if unexpected:
        parts.append(f"unexpected {', '.join(unexpected[:3])}{'…' if len(unexpected) > 3 else ''}")
    if wrong:
        k = wrong[0]
        parts.append(f"{k} is {tuple(got[k])}, expected {expected[k]}")
    return "; ".join(parts)


def _not_zizi(path: Path) -> WrongFormatError:
    hint = (
        " (looks like a pickle: run `zizi import` on it first)" if _looks_like_pickle(path) else ""
    )
    return WrongFormatError(f"{path} is not a zizi checkpoint{hint}")


def _looks_like_pickle(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            start = f.read(2)
    except OSError:
        return False
    return start[:1] == b"\x80" or start == b"PK"


def verify_checkpoint(path: str | os.PathLike) -> None:
    """Check every tensor byte against the header's checksum; raise CheckpointError if damaged.

    Format 1 files carry no checksum: only their length is checked.
    """
    path = Path(path)
    doc, header = _read_raw_header(path)
    checksum = doc.get("checksum")
    want = checksum.get("sha256") if isinstance(checksum, dict) else None
    if want is None:
        if checksum is not None:
            raise _damaged(path, f"checksum {checksum!r}")
        return
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n)
        end = max(
            (v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0
        )
        left = end
        while left > 0:
            chunk = f.read(min(left, 16 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    if digest.hexdigest() != want:
        raise CheckpointError(f"{path} is damaged (its checksum does not match the data)")


def load_checkpoint(
    path: str | os.PathLike, nets: Iterable[str] | None = None, *, verify: bool = False
) -> Checkpoint:
    """Read a zizi checkpoint (all nets and training state, or only `nets`).

    `verify` checks the checksum first (snapshots being resumed).
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if verify:
        verify_checkpoint(path)
    doc = read_header(path)
    wanted = list(nets) if nets is not None else list(doc.get("nets", {}))
    for n in wanted:
        if n not in doc.get("nets", {}):
            raise CheckpointError(
                f"{path} has no {n} network (it has {', '.join(doc['nets']) or 'none'})"
            )
    g_cfg = d_cfg = None
    for n, info in doc["nets"].items():
        if info["kind"] == "generator" and g_cfg is None:
            g_cfg = from_dict(
                GeneratorConfig, info["config"], f"{path.name}: {n} config", typed=False
            )
        elif info["kind"] == "discriminator":
            d_cfg = from_dict(
                DiscriminatorConfig, info["config"], f"{path.name}: {n} config", typed=False
            )
    if g_cfg is None:
        raise CheckpointError(f"{path} holds no generator")
    tensors: dict[str, dict[str, Any]] = {n: {} for n in wanted}
    # training state travels only with a whole checkpoint, never with a net picked out of it
    state: dict[str, dict[str, Any]] = (
        {ns: {} for ns in doc.get("state", [])} if nets is None else {}
    )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():
                net, _, name = key.partition(".")
                if net in tensors:
                    tensors[net][name] = f.get_tensor(key)
                elif net in state:
                    state[net][name] = f.get_tensor(key)
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is corrupt: {e}") from e
    return Checkpoint(
        g_config=g_cfg,
        d_config=d_cfg,
        tensors=tensors,
        augment_p=doc.get("augment_p"),
        provenance=doc.get("provenance", {}),
        extra=doc.get("extra", {}),
        state=state,
        train=doc.get("train") if nets is None else None,
    )


def build_generator(
    ckpt: Checkpoint, which: str = "G_ema", *, trainable: bool = False
) -> Generator:
    """The generator `which` with its weights loaded: frozen in eval mode, or `trainable`
    (train mode, every parameter requiring grad)."""
    from zizi.nets.generator import Generator

    if which not in ckpt.tensors:
        raise CheckpointError(
            f"checkpoint has no {which} network (it has {', '.join(ckpt.tensors)})"
        )
    net = Generator(ckpt.g_config)
    _load_state(net, ckpt.tensors[which], which)
    return _mode(net, trainable)


def build_discriminator(ckpt: Checkpoint, *, trainable: bool = False) -> Discriminator:
    """The discriminator with its weights loaded: frozen in eval mode, or `trainable`."""
    from zizi.nets.discriminator import Discriminator

    if "D" not in ckpt.tensors or ckpt.d_config is None:
        raise CheckpointError("checkpoint has no discriminator")
    net = Discriminator(ckpt.d_config)
    _load_state(net, ckpt.tensors["D"], "D")
    return _mode(net, trainable)


def _mode(net, trainable: bool):
    return net.train().requires_grad_(True) if trainable else net.eval().requires_grad_(False)


def _load_state(net, state: dict[str, Any], which: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).splitlines()[0:3])
        if len(first) > 300:
            first = first[:300] + " …"
        raise CheckpointError(f"{which} weights do not fit its config: {first}") from e
