"""The mirror's contracts: nothing written outside --out, even for a moment; the noise
regulariser shapes the projected noise.

Privacy is checked where a leak would happen, not only in what is left afterwards: every
file the process opens for writing, creates, renames or links during `zizi mirror` is
recorded by a Python audit hook and must lie in --out (ffmpeg, a child process, is given
paths in --out only). TMPDIR, the working folder, HOME and the caches point at empty
folders that must hold no file at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import WIDE, randomized, tiny_checkpoint, tiny_nets
from zizi.io.checkpoint import Checkpoint, save_checkpoint

RES = 16


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from zizi.nets.generator import Generator

    root = tmp_path_factory.mktemp("mirror-contract")
    save_checkpoint(root / "base.safetensors", tiny_checkpoint(RES, seed=0))
    g_cfg, _ = tiny_nets(RES, **WIDE)
    net = Generator(g_cfg)
    run = root / "run"
    for k, nimg in enumerate((0, 400, 800)):
        ck = Checkpoint(
            g_config=g_cfg,
            d_config=None,
            tensors={"G_ema": randomized(net, 20 + k)},
            extra={"nimg": nimg, "kimg": nimg / 1000},
        )
        save_checkpoint(run / "frames" / f"frame-{nimg:012d}.safetensors", ck)
    photo = root / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
        photo
    )
    return {"base": root / "base.safetensors", "run": run, "photo": photo}


# -- every write of the process, seen as it happens -----------------------------------------

_WATCH: list[tuple[str, str]] | None = None  # (event, path) while a test watches; None = off

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple) -> None:
    if _WATCH is None:
        return
    if event == "open":
        path, mode, flags = args
        if not isinstance(path, (str, bytes, os.PathLike)):
            return  # an already-open file descriptor
        writes = (mode is not None and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writes:
            _WATCH.append((event, os.fsdecode(path)))
    elif event in (
        "os.rename",
        "os.link",
        "os.symlink",
        "shutil.copyfile",
        "shutil.copytree",
        "shutil.move",
    ):  # (a folder holds nothing: torch's first import makes
        #                               its empty cache folder $TMPDIR/torchinductor_<user>)
        _WATCH.extend(
            (event, os.fsdecode(a))
            for a in args[1:2] + args[:1]
            if isinstance(a, (str, bytes, os.PathLike))
        )
    elif event == "subprocess.Popen":
        _WATCH.append((event, " ".join(map(str, args[1]))))


_hooked = False


def _watch() -> list[tuple[str, str]]:
    global _WATCH, _hooked
    if not _hooked:  # an audit hook cannot be removed: one for the session, off by default
        sys.addaudithook(_audit)
        _hooked = True
    _WATCH = []
    return _WATCH


def _stop() -> None:
    global _WATCH
    _WATCH = None


def _ignorable(path: str) -> bool:
    return path == os.devnull or (os.sep + "__pycache__" + os.sep) in path


@pytest.fixture
def sealed(tmp_path, monkeypatch):
    """Empty TMPDIR, working folder, HOME and caches; yields them."""
    places = {name: tmp_path / name for name in ("tmp", "cwd", "home", "cache")}
    for p in places.values():
        p.mkdir()
    monkeypatch.setenv("TMPDIR", str(places["tmp"]))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() caches its first answer;
    tempfile.gettempdir()  # it probes the folder with an empty file: done before the watch
    monkeypatch.setenv("HOME", str(places["home"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(places["cache"]))
    monkeypatch.setenv("TORCH_HOME", str(places["cache"] / "torch"))
    monkeypatch.chdir(places["cwd"])
    yield places
    _stop()


def _mirror_watched(
    photo: Path, base: Path, shifted: Path, out: Path, sealed: dict, *extra: str
) -> None:
    """Run `zizi mirror`, then assert that it wrote nothing outside `out`, at any moment."""
    seen = _watch()
    r = invoke(
        "mirror",
        photo,
        "--ckpt",
        base,
        "--shifted",
        shifted,
        "--out",
        out,
        "--steps",
        "2",
        "--device",
        "cpu",
        *extra,
    )
    _stop()
    assert r.exit_code == 0, r.output
    for place, folder in sealed.items():
        files = [p for p in folder.rglob("*") if not p.is_dir()]
        assert not files, f"{place} received {files}"
    inside = out.resolve()
    outside = []
    for event, what in seen:
        if event == "subprocess.Popen":  # ffmpeg: every path it is handed lies in --out
            # (ffmpeg is handed `file:PATH`, so a name with ':' or '#' is read as a file)
            paths = [
                a.removeprefix("file:")
                for a in what.split()
                if os.sep in a and "ffmpeg" not in Path(a).name
            ]
            outside += [(event, a) for a in paths if not Path(a).resolve().is_relative_to(inside)]
        elif not _ignorable(what) and not Path(what).resolve().is_relative_to(inside):
            outside.append((event, what))
    assert not outside, outside
    assert any(Path(w).name.startswith(".mirror.png") for _, w in seen)  # the hook does see writes


@pytest.mark.parametrize(
    "extra", [[], ["--video", "--frames", "3", "--keep-latent"]], ids=["still", "video+latent"]
)
def test_mirror_writes_nothing_outside_out_not_even_for_a_moment(world, tmp_path, sealed, extra):
    _mirror_watched(
        world["photo"],
        world["base"],
        world["run"],
        tmp_path / "out",
        sealed,
        "--align",
        "center",
        *extra,
    )


def test_face_alignment_writes_nothing_outside_out_either(world, tmp_path, sealed):
    """The face detector and landmark model load without caching anything."""
    from zizi.data.align import faces_available

    skimage_data = pytest.importorskip("skimage.data")
    if not faces_available():
        pytest.skip("needs the zizi[faces] extra (dlib)")
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo, quality=95)
    _mirror_watched(
        photo, world["base"], world["base"], tmp_path / "out", sealed, "--align", "face"
    )


def test_every_hash_the_mirror_records_is_its_own_files(world, tmp_path):
    """The still names base and shifted, the clip every checkpoint it passes through, the
    kept latent the base it was projected in: each with the sha256 of that very file."""
    import hashlib
    import json

    from safetensors import safe_open

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    out = tmp_path / "out"
    r = invoke(
        "mirror",
        world["photo"],
        "--ckpt",
        world["base"],
        "--shifted",
        world["run"],
        "--out",
        out,
        "--steps",
        "2",
        "--align",
        "center",
        "--device",
        "cpu",
        "--video",
        "--frames",
        "3",
        "--keep-latent",
    )
    assert r.exit_code == 0, r.output
    frames = sorted((world["run"] / "frames").glob("frame-*.safetensors"))
    still = json.loads(Image.open(out / "mirror.png").text["zizi"])["checkpoints"]
    assert [(e["file"], e["sha256"]) for e in still] == [
        (p.name, sha(p)) for p in (world["base"], frames[-1])
    ]
    clip = json.loads((out / "mirror.mp4.json").read_text())["checkpoints"]
    assert [(e["file"], e["sha256"]) for e in clip] == [
        (p.name, sha(p)) for p in (world["base"], *frames[1:])
    ]
    with safe_open(str(out / "latent.safetensors"), "pt") as f:
        assert f.metadata()["checkpoint_sha256"] == sha(world["base"])


# -- the noise regulariser --------------------------------------------------------------------


def test_the_noise_regulariser_decorrelates_the_projected_noise():
    """With a distance blind to the noise, the regulariser is the only force on the noise
    maps: with it they end less autocorrelated than they started; without it, unchanged."""
    from zizi.mirror.project import ProjectConfig, noise_layers, noise_regularizer, project
    from zizi.nets.generator import Generator

    torch.manual_seed(0)
    G = Generator(tiny_nets(RES, **WIDE)[0]).eval()
    target = torch.zeros(1, 3, RES, RES)

    def blind(img: torch.Tensor) -> torch.Tensor:  # depends on w only through the mean pixel
        return img.mean(dim=[1, 2, 3]).square() * 0

    def run(noise_reg: float) -> dict[str, torch.Tensor]:
        cfg = ProjectConfig(steps=6, w_avg_samples=200, noise_reg=noise_reg)
        return project(G, target, blind, cfg).noise

    # the start: the same seeded draw project() makes, renormalised as after each step
    gen = torch.Generator().manual_seed(ProjectConfig().seed + 1)
    start = [torch.randn(m.noise_const.shape, generator=gen) for m in noise_layers(G).values()]
    start = [(n - n.mean()) / n.square().mean().sqrt() for n in start]
    with_reg, without = run(1e5), run(0.0)
    for a, b in zip(without.values(), start):
        torch.testing.assert_close(a, (b - b.mean()) / (b - b.mean()).square().mean().sqrt())
    assert float(noise_regularizer(list(with_reg.values()))) < 0.5 * float(
        noise_regularizer(list(without.values()))
    )
