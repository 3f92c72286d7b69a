"""The live reflector: one camera frame in, the base and shifted reflections out, in memory.

`Reflector.reflect(frame_bytes)` decodes a JPEG/PNG/WebP frame, frames the face (FFHQ
alignment as `zizi dataset prepare --align face`, falling back to the centred square when no
face is found or the face extra is missing), asks the encoder for the latent and draws it
through both generators. Nothing derived from the frame outlives the call: the decoded image,
the crop and the latent are locals, never written, logged or hashed; the answer is a PNG in
a bytes object that the caller sends and drops.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from zizi.errors import ZiziError

MAX_FRAME_BYTES = 2 * 1024 * 1024  # a 640-px JPEG is ~60 kB; anything near this is not a frame
MAX_FRAME_SIDE = 2048  # refused before decoding, so a small file cannot claim a huge canvas
FORMATS = ("JPEG", "PNG", "WEBP")  # what browsers' canvas.toBlob makes


class FrameError(ZiziError):
    """A frame from a visitor's page cannot be used (the server answers and goes on)."""


@dataclass(frozen=True)
class Reflection:
    png: bytes  # base | shifted, side by side, R x 2R
    framed: Literal["face", "center"]  # how the crop was found (for the page's hint)


class Reflector:
    """Loads the base and shifted generators and the base's encoder once; reflects frames."""

    def __init__(
        self,
        base: str | Path,
        shifted: str | Path,
        encoder: str | Path,
        device: torch.device,
        align: Literal["face", "center"] = "face",
    ) -> None:
        from zizi.io.checkpoint import build_generator, load_checkpoint
        from zizi.mirror.encoder import load_encoder
        from zizi.mirror.project import noise_layers, set_noise
        from zizi.mirror.reflect import _check_pair, shifted_checkpoints
        from zizi.render.provenance import sha256_file

        base = Path(base)
        shifted_path, _ = shifted_checkpoints(shifted)
        _check_pair(base, shifted_path)
        self.enc, _ = load_encoder(encoder, sha256_file(base))
        self.G = build_generator(load_checkpoint(base, nets=["G_ema"]), "G_ema").to(device)
        self.G_shift = build_generator(load_checkpoint(shifted_path, nets=["G_ema"]), "G_ema").to(
            device
        )
        if self.G.img_channels != 3 or self.G.c_dim > 0:
            raise ZiziError("the live mirror needs an unconditional RGB face model")
        # Both draw with the base's noise maps, those the encoder was trained with, so the
        # two reflections differ only by what the fine-tune changed.
        set_noise(self.G_shift, {k: m.noise_const for k, m in noise_layers(self.G).items()})
        self.enc = self.enc.to(device)
        self.device = device
        self.resolution = self.G.img_resolution
        # a run folder is named by itself (its frame's file name says little to a visitor)
        self.base_name = base.name
        self.shifted_name = Path(shifted).name if Path(shifted).is_dir() else shifted_path.name
        self.finder = None
        self.align_note = "center"
        if align == "face":
            try:
                from zizi.data.align import FaceFinder

                # The page sends 320-px frames; a face at a webcam is >= 48 px across there
                # (FFHQ quad ~96 px), so the detector can skip the smallest scales: 23 ms
                # instead of 34 ms of CPU per frame (benchmarks/encoder.py).
                self.finder = FaceFinder(landmarks="5", min_face=96)
                self.align_note = "face"
            except ZiziError as e:  # the face extra is missing: the centre square still works
                self.align_note = f"center ({e})"

    def _decode(self, data: bytes):
        from PIL import Image, UnidentifiedImageError

        if len(data) > MAX_FRAME_BYTES:
            raise FrameError(f"frame of {len(data)} bytes; the limit is {MAX_FRAME_BYTES}")
        try:
            im = Image.open(io.BytesIO(data), formats=FORMATS)
            if max(im.size) > MAX_FRAME_SIDE:
                raise FrameError(
                    f"frame of {im.size[0]}x{im.size[1]} px; send at most "
                    f"{MAX_FRAME_SIDE} px a side"
                )
            im.load()
        except FrameError:
            raise
        except Image.DecompressionBombError:  # PIL's own guard fired first, on the header
            raise FrameError(
                f"frame claims a huge canvas; send at most {MAX_FRAME_SIDE} px a side"
            ) from None
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise FrameError(f"not a JPEG/PNG/WebP frame ({type(e).__name__})") from None
        return im.convert("RGB")

    def _frame(self, im) -> tuple[torch.Tensor, Literal["face", "center"]]:
        from zizi.data import crops
        from zizi.mirror.photo import to_tensor

        if self.finder is not None:
            from zizi.data.align import align, ffhq_quad

            faces = self.finder.find(im)
            if faces:
                return to_tensor(align(im, ffhq_quad(faces[0]), self.resolution)), "face"
        return to_tensor(crops.center_crop(im, self.resolution)), "center"

    @torch.no_grad()
    def reflect(self, data: bytes) -> Reflection:
        """The base and shifted reflections of one encoded frame, as one PNG."""
        import numpy as np
        from PIL import Image

        from zizi.render.images import to_uint8

        crop, how = self._frame(self._decode(data))  # [1, 3, R, R]
        ws = self.enc(crop.to(self.device))  # [1, num_ws, w_dim]
        pair = [
            to_uint8(g.synthesis(ws, noise_mode="const", force_fp32=True))[0]
            for g in (self.G, self.G_shift)
        ]
        del crop, ws
        buf = io.BytesIO()
        Image.fromarray(np.concatenate(pair, axis=1)).save(buf, format="PNG", compress_level=1)
        return Reflection(buf.getvalue(), how)
