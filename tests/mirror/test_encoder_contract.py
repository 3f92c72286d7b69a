"""`zizi mirror --encoder` hands the encoder's guess to the search as its starting point.

`test_encoder.py` checks `project(init=...)` itself and that the mirror records an encoder;
a mirror that encoded the photo but started the search from the average w would pass both.
With a refinement rate of 0 the search cannot move its w: the result must be the guess,
what `--steps 0` draws (up to the noise maps the search sets up).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from zizi.mirror.encoder_train import EncoderTrainConfig, prepare, train_encoder
from zizi.mirror.project import ProjectConfig
from zizi.mirror.reflect import MirrorConfig, mirror

CPU = torch.device("cpu")


def test_the_search_starts_from_the_encoders_guess(models, tmp_path):
    enc = tmp_path / "enc.safetensors"
    t, info = prepare(models["base"], enc, EncoderTrainConfig(kimg=0.008, batch=4), CPU)
    train_encoder(t, enc, info)
    drawn = []
    for steps in (0, 2):
        cfg = MirrorConfig(
            project=replace(
                ProjectConfig(), steps=steps, space="w+", refine_lr=0.0, w_avg_samples=100
            ),
            align="center",
        )
        out = tmp_path / f"steps{steps}"
        mirror(models["photo"], models["base"], models["shifted"], out, cfg, CPU, encoder=enc)
        drawn.append(np.asarray(Image.open(out / "mirror.png").convert("RGB")))
    # the noise maps are the search's own (re-initialised), so pixels differ by a little;
    # a search from the average w draws the mean face instead (tens of levels away)
    assert np.abs(drawn[0].astype(int) - drawn[1].astype(int)).mean() < 3
