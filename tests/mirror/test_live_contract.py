"""What the live mirror's `Reflector` hands on: the encoder's w of the visitor's crop, drawn
through the base and the fine-tune, both with the base's noise maps.

The browser test (`test_serve.py`) only sees that two different faces come back; a
reflector that drew the fine-tune with its own noise maps (not those the encoder was
trained with) or fed the encoder another crop would pass it. Here each half is recomputed
from the files on their own.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import build_generator, load_checkpoint, save_checkpoint
from zizi.mirror.encoder import load_encoder
from zizi.mirror.encoder_train import EncoderTrainConfig, prepare, train_encoder

RES = 16
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    base, shifted = root / "base.safetensors", root / "shifted.safetensors"
    save_checkpoint(base, tiny_checkpoint(RES, seed=0))
    save_checkpoint(shifted, tiny_checkpoint(RES, seed=10))
    enc = root / "enc.safetensors"
    t, info = prepare(base, enc, EncoderTrainConfig(kimg=0.008, batch=4), CPU)
    train_encoder(t, enc, info)
    return {"base": base, "shifted": shifted, "enc": enc}


def _draw(path, ws, noise_from=None) -> np.ndarray:
    from zizi.render.images import to_uint8

    G = build_generator(load_checkpoint(path, nets=["G_ema"]), "G_ema")
    if noise_from is not None:
        own = {n: b for n, b in G.named_buffers() if n.endswith("noise_const")}
        for n, b in build_generator(
            load_checkpoint(noise_from, nets=["G_ema"]), "G_ema"
        ).named_buffers():
            if n in own:
                own[n].copy_(b)
    with torch.no_grad():
        return to_uint8(G.synthesis(ws, noise_mode="const", force_fp32=True))[0]


def test_each_half_is_the_encoders_w_drawn_by_its_model_with_the_base_noise(models):
    from zizi.data import crops
    from zizi.mirror.live import Reflector
    from zizi.mirror.photo import to_tensor

    rng = np.random.default_rng(1)
    camera = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    buf = io.BytesIO()
    camera.save(buf, format="PNG")
    r = Reflector(models["base"], models["shifted"], models["enc"], CPU, align="center")
    got = np.asarray(Image.open(io.BytesIO(r.reflect(buf.getvalue()).png)).convert("RGB"))

    enc, _ = load_encoder(models["enc"])
    with torch.no_grad():
        ws = enc(to_tensor(crops.center_crop(camera, RES)))
    base = _draw(models["base"], ws)
    shifted = _draw(models["shifted"], ws, noise_from=models["base"])
    assert np.array_equal(got, np.concatenate([base, shifted], axis=1))
    # the fine-tune's own noise maps would have drawn another face: the test can fail
    assert not np.array_equal(shifted, _draw(models["shifted"], ws))


def test_an_encoder_trained_for_another_generator_is_refused(models, tmp_path):
    """Its W+ would mean nothing to the base: the live mirror must check the sha256 the
    encoder file records against the --checkpoint it serves, as `zizi mirror --encoder` does."""
    from zizi.errors import ZiziError
    from zizi.mirror.live import Reflector

    other = tmp_path / "other-enc.safetensors"
    t, info = prepare(models["shifted"], other, EncoderTrainConfig(kimg=0.004, batch=4), CPU)
    train_encoder(t, other, info)
    with pytest.raises(ZiziError, match="was trained for shifted.safetensors"):
        Reflector(models["base"], models["shifted"], other, CPU, align="center")
