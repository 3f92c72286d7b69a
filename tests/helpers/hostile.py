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

from tests.helpers.cli import invoke
from tests.helpers.tiny import TINY_SET_FLAGS, tiny_checkpoint


def raw_safetensors(path: Path) -> tuple[dict[str, Any], bytes]:
    """(safetensors header dict, data section bytes) of a file."""
    blob = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def write_raw_safetensors(path: Path, header: dict[str, Any] | bytes, data: bytes) -> Path:
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return Path(path)


def tiny_zizi(path: Path, res: int = 16) -> Path:
    from zizi.io.checkpoint import save_checkpoint

    return save_checkpoint(path, tiny_checkpoint(res))


def lying_config(
    path: Path,
    mutate: Callable[[dict[str, Any]], None],
    nets: tuple[str, ...] = ("G_ema", "G"),
    res: int = 16,
) -> Path:
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
    from tests.helpers.tiny import tiny_modules

    marker = "DEEP-NESTING-MARKER"
    write_nvlabs_pickle(path, *tiny_modules(8), extra_entries={"training_set_kwargs": marker})
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
                    f.write(chunk[: min(left, len(chunk))])
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
    bomb = _inflate_storage(
        buf.getvalue(), path.with_suffix(".inner.zip"), int(declared_gib * 2**30)
    )
    inner = bomb.read_bytes()
    bomb.unlink()

    class _Storage:
        def __reduce__(self):
            return (torch.storage._load_from_bytes, (inner,))

    Path(path).write_bytes(pickle.dumps({"G": _Storage()}, protocol=4))
    return Path(path)


def zip_bomb_inception(path: Path, declared_gib: float = 1.0) -> Path:
    """A TorchScript Inception-like archive (a scripted module holding one tensor) whose
    storage record declares `declared_gib` GiB of zeros, deflated (issue #21 item 6: a
    1 MB file declaring 1 GiB peaked at 1.4 GB)."""
    import torch

    class Holder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(4))

        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            return x.float().mean(dim=(2, 3)) + self.w.sum()

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Holder()), buf)
    return _inflate_storage(buf.getvalue(), path, int(declared_gib * 2**30))


def metrics_target(folder: Path) -> tuple[Path, Path]:
    """(a tiny checkpoint, a folder of 8 images at its resolution) to run `zizi metrics` on."""
    import numpy as np
    from PIL import Image

    ckpt = tiny_zizi(folder / "g.safetensors")
    data = folder / "data"
    data.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(data / f"{i}.png")
    return ckpt, data


def hostile_run(folder: Path, attack: str = "dev-zero") -> Path:
    """A real tiny run (trained here for 8 images) as a stranger could send it, with one
    `attack`: "dev-zero" (log.txt a link to /dev/zero), "fifo" (stats.jsonl a FIFO) or
    "workers" (config.yaml asks for 200 loader processes)."""
    import os

    from tests.helpers.tiny import make_checkpoint, make_images

    data = make_images(folder / "faces")
    ckpt = make_checkpoint(folder / "base.safetensors")
    sets = TINY_SET_FLAGS
    r = invoke(
        "train",
        "--data",
        data,
        "--resume",
        ckpt,
        "--out",
        folder / "runs",
        *sets,
        "--kimg",
        "0.008",
    )
    if r.exit_code != 0:
        raise RuntimeError(f"could not train the tiny run: {r.output}")
    run = folder / "runs" / "00000-faces"
    if attack == "dev-zero":
        (run / "log.txt").unlink()
        (run / "log.txt").symlink_to("/dev/zero")
    elif attack == "fifo":
        (run / "stats.jsonl").unlink()
        os.mkfifo(run / "stats.jsonl")
    else:
        cfg = (run / "config.yaml").read_text().replace("workers: 0", "workers: 200")
        (run / "config.yaml").write_text(cfg)
    return run


# --------------------------------------------------------------------------- measuring

_MEASURE = r"""
import json, sys
def hwm_kib():  # VmHWM is per address space; ru_maxrss would carry the parent's peak over exec
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
import torch, safetensors, numpy  # noqa: F401  (the baseline: what any zizi command loads)
import zizi.cli, zizi.io.importers, zizi.io.checkpoint, zizi.io.nvlabs, zizi.io.rosinality
import zizi.io.safe_pickle, zizi.nets.generator, zizi.nets.discriminator, zizi.cli.import_cmd
import zizi.cli.info, zizi.cli.generate, zizi.cli.export
import zizi.cli.metrics, zizi.cli.train, zizi.metrics.inception, zizi.train.setup
base = hwm_kib()
code = 0
try:
    zizi.cli.cli.main(sys.argv[1:], prog_name="zizi", standalone_mode=False)
except Exception as e:  # click's exceptions: the one line a person would see
    code, msg = 1, f"{type(e).__name__}: {e}"
else:
    msg = ""
print(json.dumps({"base_kib": base, "peak_kib": hwm_kib(), "code": code, "message": msg}))
"""


def measure(*args: str | Path) -> dict[str, Any]:
    """Run `zizi ARGS` in a fresh interpreter; its peak resident memory above the baseline
    of an interpreter with torch and zizi loaded (VmHWM, Linux), exit code and message."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"measuring zizi {args} failed: {proc.stderr[-2000:]}")
    out = json.loads(lines[-1])
    out["extra_mib"] = (out["peak_kib"] - out["base_kib"]) / 1024
    return out


#: name -> (builder(folder) -> crafted file, zizi command that must refuse it)
def crafted_cases(bomb_gib: float = 4.0) -> dict[str, tuple[Callable[[Path], Path], list[str]]]:
    return {
        "config 4096² channel_base 2^30": (
            lambda d: lying_config(
                d / "huge.safetensors",
                set_keys(img_resolution=4096, channel_base=2**30, channel_max=2**20),
            ),
            ["generate", "{f}", "--seeds", "0", "--out", "{d}/gen"],
        ),
        "config 4096² within bounds": (
            lambda d: lying_config(
                d / "big.safetensors",
                set_keys(img_resolution=4096, channel_base=2**20, channel_max=8192),
            ),
            ["generate", "{f}", "--seeds", "0", "--out", "{d}/gen"],
        ),
        "mapping num_layers 10^7": (
            lambda d: lying_config(d / "layers.safetensors", set_keys(mapping__num_layers=10**7)),
            ["generate", "{f}", "--seeds", "0", "--out", "{d}/gen"],
        ),
        "z_dim 10^9": (
            lambda d: lying_config(d / "zdim.safetensors", set_keys(z_dim=10**9)),
            ["generate", "{f}", "--seeds", "0", "--out", "{d}/gen"],
        ),
        "info of 4096² config": (
            lambda d: lying_config(
                d / "info.safetensors",
                set_keys(img_resolution=4096, channel_base=2**20, channel_max=8192),
            ),
            ["info", "{f}"],
        ),
        "import of 4096² config": (
            lambda d: lying_config(
                d / "imp.safetensors",
                set_keys(img_resolution=4096, channel_base=2**20, channel_max=8192),
            ),
            ["import", "{f}", "--out", "{d}/out.safetensors"],
        ),
        "nested JSON header": (
            lambda d: nested_json_header(d / "deep.safetensors"),
            ["info", "{f}"],
        ),
        "nested pickle": (
            lambda d: nested_pickle(d / "deep.pkl"),
            ["import", "{f}", "--out", "{d}/out.safetensors"],
        ),
        f"zip bomb .pt ({bomb_gib:g} GiB)": (
            lambda d: zip_bomb_pt(d / "bomb.pt", bomb_gib),
            ["import", "{f}", "--out", "{d}/out.safetensors"],
        ),
        f"zip bomb in pickle storage ({bomb_gib:g} GiB)": (
            lambda d: zip_bomb_nvlabs(d / "bomb.pkl", bomb_gib),
            ["import", "{f}", "--out", "{d}/out.safetensors"],
        ),
        f"Inception zip bomb .pt ({bomb_gib:g} GiB, trusted)": (
            lambda d: (metrics_target(d), zip_bomb_inception(d / "inception.pt", bomb_gib))[1],
            [
                "metrics",
                "{d}/g.safetensors",
                "--data",
                "{d}/data",
                "--metrics",
                "kid",
                "--num",
                "2",
                "--inception",
                "{f}",
                "--trust-torchscript",
            ],
        ),
        "run folder: log.txt -> /dev/zero": (
            lambda d: hostile_run(d, "dev-zero"),
            ["train", "--resume", "{f}", "--kimg", "0.016"],
        ),
        "run folder: stats.jsonl a FIFO": (
            lambda d: hostile_run(d, "fifo"),
            ["train", "--resume", "{f}", "--kimg", "0.016"],
        ),
        "run folder: config data.workers 200": (
            lambda d: hostile_run(d, "workers"),
            ["train", "--resume", "{f}", "--kimg", "0.016"],
        ),
    }
