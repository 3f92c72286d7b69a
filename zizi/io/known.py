"""Well-known public checkpoints, fetchable by a short name (`zizi import ffhq-1024`).

Each entry records where the file lives, under which licence it was published, and how
big it should be. URLs were checked against the published READMEs and training scripts
of the stylegan2 / stylegan2-ada-pytorch / stylegan3 repositories (`url_verified`).
No sha256 has been published for these files, and none is invented here: `sha256` stays
None until someone records a value measured from the real download. Exact byte counts are
likewise unknown; `approx_mb` is an estimate from the networks' parameter counts (three
float32 nets per pickle: G, D and G_ema/Gs), used to refuse files that are obviously
not the checkpoint (an HTML error page, a cut-off transfer).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from zizi.errors import DownloadError, ZiziError
from zizi.io.download import download, file_sha256

# Hosts (facts from the repositories' READMEs; see module docstring).
_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files"
_TF = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks"

_NC = "NVIDIA Source Code License-NC (non-commercial research and evaluation only)"


@dataclass(frozen=True)
class KnownCheckpoint:
    name: str  # the short name a person types
    url: str
    filename: str  # name on disk under the checkpoints folder
    resolution: int
    format: Literal["nvidia", "tf"]  # which importer reads it
    licence: str
    approx_mb: int  # MiB (2**20 bytes), estimated from parameter counts, not measured
    description: str
    size_bytes: int | None = None  # exact size, only when measured from the real file
    sha256: str | None = None  # only when measured from the real file; never guessed
    url_verified: bool = True  # URL seen in the publisher's own README / scripts

    @property
    def min_bytes(self) -> int:
        # Half the estimate: loose enough never to refuse the real file, tight enough to
        # catch an error page or a transfer cut off early.
        return self.approx_mb * 1_000_000 // 2


KNOWN: dict[str, KnownCheckpoint] = {
    k.name: k
    for k in [
        KnownCheckpoint(
            "ffhq-256",
            f"{_ADA}/transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl",
            "ffhq-res256-mirror-paper256-noaug.pkl",
            256,
            "nvidia",
            _NC,
            298,
            "FFHQ 256², ADA transfer-learning source (paper256 config); good for small GPUs",
        ),
        KnownCheckpoint(
            "ffhq-512",
            f"{_ADA}/transfer-learning-source-nets/ffhq-res512-mirror-stylegan2-noaug.pkl",
            "ffhq-res512-mirror-stylegan2-noaug.pkl",
            512,
            "nvidia",
            _NC,
            363,
            "FFHQ 512², ADA transfer-learning source (config-f channels)",
        ),
        KnownCheckpoint(
            "ffhq-1024",
            f"{_ADA}/transfer-learning-source-nets/ffhq-res1024-mirror-stylegan2-noaug.pkl",
            "ffhq-res1024-mirror-stylegan2-noaug.pkl",
            1024,
            "nvidia",
            _NC,
            364,
            "FFHQ 1024², ADA transfer-learning source; the usual start for a face fine-tune",
        ),
        KnownCheckpoint(
            "celebahq-256",
            f"{_ADA}/transfer-learning-source-nets/celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl",
            "celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl",
            256,
            "nvidia",
            _NC,
            298,
            "CelebA-HQ 256², ADA transfer-learning source",
        ),
        KnownCheckpoint(
            "ffhq-config-f",
            f"{_TF}/stylegan2-ffhq-config-f.pkl",
            "stylegan2-ffhq-config-f.pkl",
            1024,
            "tf",
            _NC,
            364,
            "The original 2019 StyleGAN2 FFHQ 1024² (TensorFlow pickle)",
        ),
        KnownCheckpoint(
            "ffhq-1024-ngc",
            f"{_NGC}/stylegan2-ffhq-1024x1024.pkl",
            "stylegan2-ffhq-1024x1024.pkl",
            1024,
            "nvidia",
            _NC,
            364,
            "FFHQ 1024² as republished with stylegan3 (PyTorch pickle on NGC)",
        ),
        KnownCheckpoint(
            "metfaces-1024",
            f"{_NGC}/stylegan2-metfaces-1024x1024.pkl",
            "stylegan2-metfaces-1024x1024.pkl",
            1024,
            "nvidia",
            _NC,
            364,
            "MetFaces 1024²: faces from museum paintings (ADA, fine-tuned from FFHQ)",
        ),
        KnownCheckpoint(
            "afhqv2-512",
            f"{_NGC}/stylegan2-afhqv2-512x512.pkl",
            "stylegan2-afhqv2-512x512.pkl",
            512,
            "nvidia",
            _NC,
            363,
            "AFHQv2 512²: cat, dog and wildlife faces together",
        ),
        KnownCheckpoint(
            "afhqcat-512",
            f"{_ADA}/afhqcat.pkl",
            "afhqcat.pkl",
            512,
            "nvidia",
            _NC,
            363,
            "AFHQ Cat 512² (ADA)",
        ),
        KnownCheckpoint(
            "afhqdog-512",
            f"{_ADA}/afhqdog.pkl",
            "afhqdog.pkl",
            512,
            "nvidia",
            _NC,
            363,
            "AFHQ Dog 512² (ADA)",
        ),
        KnownCheckpoint(
            "afhqwild-512",
            f"{_ADA}/afhqwild.pkl",
            "afhqwild.pkl",
            512,
            "nvidia",
            _NC,
            363,
            "AFHQ Wild 512² (ADA)",
        ),
    ]
}


@dataclass(frozen=True)
class ResolvedSource:
    """A local checkpoint file, with what is known about where it came from."""

    path: Path
    sha256: str  # of the bytes on disk, measured here
    name: str | None = None  # the well-known name, when resolved from one
    url: str | None = None
    downloaded: bool = False  # False when the file was already there


def is_known(name: str) -> bool:
    return name in KNOWN


def get(name: str) -> KnownCheckpoint:
    """The entry for a well-known name; an unknown name raises with a suggestion."""
    try:
        return KNOWN[name]
    except KeyError:
        hint = difflib.get_close_matches(name, KNOWN, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ZiziError(
            f"{name!r} is neither a file nor a well-known checkpoint{extra} "
            "(run `zizi checkpoints` for the list)"
        ) from None


def resolve(
    name_or_path: str | Path,
    dest_dir: str | Path = "checkpoints",
    *,
    progress: bool = False,
    opener: Callable | None = None,
) -> ResolvedSource:
    """A local file for a path or a well-known name, downloading into `dest_dir` if needed.

    An existing path wins over a name. A name whose file is already in `dest_dir` is
    reused after a size check. `opener` replaces `urllib.request.urlopen` (tests).
    """
    path = Path(name_or_path)
    if path.exists():
        if not path.is_file():
            raise ZiziError(f"{path} is a folder, not a checkpoint file")
        return ResolvedSource(path=path, sha256=file_sha256(path))
    if not is_known(str(name_or_path)):
        get(str(name_or_path))  # raises with "did you mean"
    entry = KNOWN[str(name_or_path)]
    dest = Path(dest_dir) / entry.filename
    if dest.exists():
        _check_existing(entry, dest)
        return ResolvedSource(dest, file_sha256(dest), entry.name, entry.url, downloaded=False)

    got = download(
        entry.url,
        dest,
        expected_size=entry.size_bytes,
        sha256=entry.sha256,
        min_size=entry.min_bytes,
        progress=progress,
        opener=opener,
    )
    return ResolvedSource(got.path, got.sha256, entry.name, entry.url, downloaded=True)


def _check_existing(entry: KnownCheckpoint, dest: Path) -> None:
    size = dest.stat().st_size
    if entry.size_bytes is not None and size != entry.size_bytes:
        raise DownloadError(
            f"{dest} has {size} bytes but {entry.name} should have {entry.size_bytes}; "
            "delete it and run the command again"
        )
    if size < entry.min_bytes:
        raise DownloadError(
            f"{dest} has only {size} bytes but {entry.name} is about {entry.approx_mb} MiB; "
            "delete it and run the command again"
        )
    if entry.sha256 is not None and file_sha256(dest) != entry.sha256:
        raise DownloadError(
            f"{dest} does not match the published sha256 of {entry.name}; "
            "delete it and run the command again"
        )


def import_any(
    name_or_path: str | Path,
    dest_dir: str | Path = "checkpoints",
    which: str | None = None,
    *,
    progress: bool = False,
):
    """A `Checkpoint` from a file or a well-known name (downloaded first if needed).

    What `zizi import` and the trainer's `--resume` share: the sha256 of the bytes
    actually read and, for a name, the name and URL go into the provenance.
    """
    from zizi.io.importers import import_checkpoint

    src = resolve(name_or_path, dest_dir, progress=progress)
    ckpt = import_checkpoint(src.path, which=which, sha256=src.sha256)
    if src.name is not None:
        ckpt.provenance.update(known_name=src.name, source_url=src.url)
    return ckpt
