"""Crafted hostile checkpoint files (configs that lie, nesting bombs, zip bombs) for tests
and benchmarks/hostile.py. Each builder writes one small file and returns its path."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.tiny import tiny_checkpoint


def raw_safetensors(path: Path) -> tuple[dict[str, Any], bytes]:
    """(safetensors header dict, data section bytes) of a file."""
    blob = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def write_raw_safetensors(path: Path, header: dict[str, Any] | bytes, data: bytes) -> Path:
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return Path(path)


def tiny_zizi(path: Path, res: int = 16) -> Path:
    from zizi.io.checkpoint import save_checkpoint

    return save_checkpoint(path, tiny_checkpoint(res))


def lying_config(path: Path, mutate: Callable[[dict[str, Any]], None], nets: tuple[str, ...] = ("G_ema", "G"),
                 res: int = 16) -> Path:
    """A real tiny checkpoint whose JSON config for `nets` was edited by `mutate` (tensors kept)."""
    tiny_zizi(path, res)
    header, data = raw_safetensors(path)
    doc = json.loads(header["__metadata__"]["zizi"])
    for net in nets:
        mutate(doc["nets"][net]["config"])
    header["__metadata__"]["zizi"] = json.dumps(doc)
    return write_raw_safetensors(path, header, data)


def set_keys(**kv: Any) -> Callable[[dict[str, Any]], None]:
    """A `mutate` that sets dotted keys (`mapping.num_layers`)."""
    def mutate(cfg: dict[str, Any]) -> None:
        for key, value in kv.items():
            *parents, last = key.split("__")
            d = cfg
            for p in parents:
                d = d[p]
            d[last] = value
    return mutate


def nested_json_header(path: Path, depth: int = 200_000) -> Path:
    """A safetensors file whose header (not the zizi document) nests lists `depth` deep."""
    tiny_zizi(path)
    header, data = raw_safetensors(path)
    text = json.dumps(header)
    text = text[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    return write_raw_safetensors(path, text.encode(), data)


def nested_zizi_document(path: Path, depth: int = 200_000) -> Path:
    """A checkpoint whose zizi JSON document nests dicts `depth` deep inside `extra`."""
    tiny_zizi(path)
    header, data = raw_safetensors(path)
    doc = header["__metadata__"]["zizi"]
    header["__metadata__"]["zizi"] = doc[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    return write_raw_safetensors(path, header, data)


def nested_pickle(path: Path, depth: int = 200_000) -> Path:
    """A real tiny NVIDIA pickle whose `training_set_kwargs` is a dict nested `depth` deep
    (written with pickle opcodes: Python's own pickler would itself recurse)."""
    from tests.helpers.nvlabs_writer import write_nvlabs_pickle
    from tests.helpers.tiny import tiny_d, tiny_g
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    marker = "DEEP-NESTING-MARKER"
    write_nvlabs_pickle(path, Generator(tiny_g(8)), Discriminator(tiny_d(8)),
                        extra_entries={"training_set_kwargs": marker})
    blob = Path(path).read_bytes()
    short = b"\x8c" + bytes([len(marker)]) + marker.encode()  # SHORT_BINUNICODE
    assert blob.count(short) == 1
    key = b"\x8c\x01k"
    # EMPTY_DICT and a key, depth - 1 times, the innermost EMPTY_DICT, then SETITEM each
    # dict into the one below it
    deep = (b"}" + key) * (depth - 1) + b"}" + b"s" * (depth - 1)
    Path(path).write_bytes(blob.replace(short, deep))
    return Path(path)


def zip_bomb_pt(path: Path, declared_gib: float = 4.0) -> Path:
    """A torch.save-style zip (rosinality layout) whose one storage is `declared_gib` GiB
    of zeros, deflated to a few MB."""
    import torch

    buf = io.BytesIO()
    torch.save({"g_ema": {"style.1.weight": torch.zeros(4)}, "latent_avg": torch.zeros(4)}, buf)
    return _inflate_storage(buf.getvalue(), path, int(declared_gib * 2**30))


def _inflate_storage(zip_bytes: bytes, path: Path, nbytes: int) -> Path:
    """Rewrite a torch zip: its first storage record becomes `nbytes` zeros, deflated; the
    pickle is patched to declare that many elements."""
    src = zipfile.ZipFile(io.BytesIO(zip_bytes))
    out = zipfile.ZipFile(path, "w")
    chunk = b"\0" * (1 << 20)
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("/data/0"):
            zi = zipfile.ZipInfo(info.filename)
            zi.compress_type = zipfile.ZIP_DEFLATED
            with out.open(zi, "w", force_zip64=True) as f:
                left = nbytes
                while left > 0:
                    f.write(chunk[:min(left, len(chunk))])
                    left -= len(chunk)
        else:
            out.writestr(info, data)
    out.close()
    return Path(path)


def zip_bomb_nvlabs(path: Path, declared_gib: float = 4.0) -> Path:
    """An NVIDIA-style pickle whose one tensor storage (a torch.save zip inside
    torch.storage._load_from_bytes) declares `declared_gib` GiB, deflated."""
    import torch

    buf = io.BytesIO()
    torch.save(torch.zeros(4).untyped_storage(), buf)
    bomb = _inflate_storage(buf.getvalue(), path.with_suffix(".inner.zip"), int(declared_gib * 2**30))
    inner = bomb.read_bytes()
    bomb.unlink()

    class _Storage:
        def __reduce__(self):
            return (torch.storage._load_from_bytes, (inner,))

    Path(path).write_bytes(pickle.dumps({"G": _Storage()}, protocol=4))
    return Path(path)
