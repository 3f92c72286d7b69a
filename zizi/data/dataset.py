"""The training dataset: prepared zizi folders, plain image folders, and ADA zip files.

Semantics follow NVlabs' stylegan2-ada `ImageFolderDataset`, so a zip made by their
`dataset_tool.py` and a folder made by `zizi dataset prepare` train the same way:
`max_size` keeps a seeded random subset, `xflip` doubles the set with mirrored copies,
labels come from `dataset.json` (`{"labels": [[name, int | [float, ...]], ...] | null}`).
Items are `(image, label)`: image float32 [3, H, W] in [-1, 1], label float32 [c_dim].
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zizi.data.folder import (
    ADA_LABELS,
    MANIFEST,
    MAX_IMAGE_BYTES,
    MemberCheck,
    has_manifest,
    read_member,
)
from zizi.data.images import IMAGE_SUFFIXES
from zizi.data.manifest import dataset_files, load_manifest
from zizi.errors import DatasetError


class ImageDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        path: str | Path,  # prepared folder, plain folder of images, or ADA .zip
        resolution: int | None = None,  # expected side; None = take the first image's
        use_labels: bool = False,  # read dataset.json labels; False = c_dim 0
        xflip: bool = False,  # append x-flipped copies (doubles the length)
        max_size: int | None = None,  # keep a random subset of this many (seeded)
        seed: int = 0,  # seed for the max_size subset
    ) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self.warnings: list[str] = []  # manifest entries left alone (pointing outside)
        if self.path.is_dir():
            self._kind = "dir"
            self._names = self._folder_names()
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self._kind = "zip"
            self._names = self._zip_names()
        else:
            raise DatasetError(f"{self.path} is neither an image folder nor a zip file")
        if not self._names:
            why = f" ({self.warnings[0]})" if self.warnings else ""
            raise DatasetError(f"{self.path} holds no images{why}")

        self._labels = self._load_labels() if use_labels else None
        raw = np.arange(len(self._names), dtype=np.int64)
        if max_size is not None and max_size < len(raw):
            rng = np.random.RandomState(seed % (1 << 31))
            rng.shuffle(raw)
            raw = np.sort(raw[:max_size])
        self._raw_idx = raw
        self._xflip = np.zeros(len(raw), dtype=np.uint8)
        if xflip:
            self._raw_idx = np.tile(raw, 2)
            self._xflip = np.concatenate([self._xflip, np.ones_like(self._xflip)])

        first = self._load_uint8(int(self._raw_idx[0]))
        self.resolution = first.shape[1]
        if first.shape[1] != first.shape[2]:
            raise DatasetError(
                f"{self._names[0]} is {first.shape[2]}×{first.shape[1]}, not square: "
                f"run `zizi dataset prepare` on this folder"
            )
        if resolution is not None and resolution != self.resolution:
            raise DatasetError(
                f"{self.path} has images at {self.resolution}×{self.resolution}, training "
                f"wants {resolution}×{resolution}: run `zizi dataset prepare --resolution "
                f"{resolution}`"
            )

    # -- what trainers ask for -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._raw_idx)

    @property
    def num_channels(self) -> int:
        return 3

    @property
    def label_dim(self) -> int:
        return 0 if self._labels is None else self._labels.shape[1]

    @property
    def has_labels(self) -> bool:
        return self.label_dim > 0

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        raw = int(self._raw_idx[idx])
        img = self._load_uint8(raw)  # [3, H, W] uint8
        if img.shape[1:] != (self.resolution, self.resolution):
            raise DatasetError(
                f"{self._names[raw]} is {img.shape[2]}×{img.shape[1]} but the dataset is "
                f"{self.resolution}×{self.resolution}: run `zizi dataset prepare` "
                f"--resolution {self.resolution} on it"
            )
        if self._xflip[idx]:
            img = img[:, :, ::-1]
        image = torch.from_numpy(np.ascontiguousarray(img)).float() / 127.5 - 1.0
        label = (
            torch.zeros(0) if self._labels is None else torch.from_numpy(self._labels[raw].copy())
        )
        return image, label

    def label_table(self) -> torch.Tensor:
        """[len(self), c_dim] float32: every item's label (mirrored items included)."""
        if self._labels is None:
            return torch.zeros([len(self), 0])
        return torch.from_numpy(self._labels[self._raw_idx].copy())

    def name(self, idx: int) -> str:
        return self._names[int(self._raw_idx[idx])]

    # -- reading -------------------------------------------------------------------------

    def _folder_names(self) -> list[str]:
        if has_manifest(self.path):
            try:
                # finishes an interrupted opt-out, if any; the trainer prints the warnings
                self.warnings = load_manifest(self.path).warnings()
            except DatasetError:
                pass  # e.g. a read-only copy (a link out is refused just below, by name)
        return dataset_files(self.path)

    def _zip_names(self) -> list[str]:
        """A zipped prepared dataset lists what its manifest lists (as its folder does);
        an ADA zip without a manifest, every image in it."""
        names = self._open_zip().namelist()
        if MANIFEST not in names:
            return sorted(n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES)
        try:
            raw = json.loads(self._open_zip().read(MANIFEST).decode("utf-8"))
            # entries that would point outside the dataset are left out, as in a folder
            listed = [
                r["file"]
                for r in raw["images"]
                if MemberCheck.why_unsafe_name(r.get("file")) is None
            ]
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            raise DatasetError(f"{MANIFEST} in {self.path} is damaged ({e})") from e
        have = set(names)
        missing = [n for n in listed if n not in have]
        if missing:
            raise DatasetError(
                f"{self.path} lacks {missing[0]} ({len(missing)} of the images its "
                f"{MANIFEST} lists): zip the whole dataset folder again"
            )
        return listed

    def _open_zip(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def _read_bytes(self, name: str) -> bytes:
        if self._kind == "zip":
            return self._open_zip().read(name)
        # inside the dataset only: a link out, a FIFO or a device is one line, never read
        data = read_member(self.path, name, limit=MAX_IMAGE_BYTES)
        if data is None:
            raise DatasetError(
                f"{self.path / name} is missing (listed in the dataset); "
                "re-run `zizi dataset prepare`"
            )
        return data

    def _load_uint8(self, raw: int) -> np.ndarray:
        from PIL import Image, ImageOps

        name = self._names[raw]
        try:
            with Image.open(io.BytesIO(self._read_bytes(name))) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                arr = np.asarray(im)  # [H, W, 3]
        except (OSError, KeyError, ValueError) as e:
            raise DatasetError(f"cannot read {name} in {self.path}: {e}") from e
        return arr.transpose(2, 0, 1)  # [3, H, W]

    def _load_labels(self) -> np.ndarray | None:
        try:
            if self._kind == "zip":
                text = self._open_zip().read(ADA_LABELS).decode("utf-8")
            else:
                data = read_member(self.path, ADA_LABELS)
                if data is None:
                    return None
                text = data.decode("utf-8")
        except KeyError:
            return None
        labels = json.loads(text).get("labels")
        if labels is None:
            return None
        table: dict[str, Any] = {n.replace("\\", "/"): v for n, v in labels}
        missing = [n for n in self._names if n not in table]
        if missing:
            raise DatasetError(
                f"{ADA_LABELS} in {self.path} has no label for {missing[0]} "
                f"({len(missing)} missing)"
            )
        values = [table[n] for n in self._names]
        if all(isinstance(v, int) for v in values):
            onehot = np.zeros((len(values), max(values) + 1), dtype=np.float32)
            onehot[np.arange(len(values)), values] = 1
            return onehot
        return np.asarray(values, dtype=np.float32).reshape(len(values), -1)

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers pickle the dataset; each opens its own zip handle.
        return {**self.__dict__, "_zip": None}

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
