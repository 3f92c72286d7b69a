"""A newcomer's rough edges (issue #11): help that names what works, one spelling, no
bars in logs, plural messages, readable captions, numbers that agree."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.cli import invoke
from zizi.text import plural, printable, shorten_middle

ROOT = Path(__file__).resolve().parents[2]


def test_import_help_names_every_format_and_known_names():
    text = " ".join(invoke("import", "--help").output.split())
    for word in (
        "NVIDIA PyTorch pickles",
        "TensorFlow pickles",
        "rosinality",
        "ffhq-256",
        "ffhq-1024",
        "zizi checkpoints",
    ):
        assert word in text, word


@pytest.mark.parametrize("command", ["import", "export", "generate"])
def test_which_has_one_spelling(command: str):
    text = invoke(command, "--help").output
    assert "--which [G_ema|G]" in text and "g_ema|g" not in text


def test_generate_in_a_log_has_no_progress_bar_and_plural_messages(tmp_path: Path):
    from tests.helpers.tiny import tiny_checkpoint
    from zizi.io.checkpoint import save_checkpoint

    ck = tmp_path / "t.safetensors"
    save_checkpoint(ck, tiny_checkpoint())
    r = invoke(
        "generate",
        ck,
        "--seeds",
        "0-2",
        "--out",
        tmp_path / "o",
        "--which",
        "g_ema",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Wrote 3 images to {tmp_path / 'o'}\n"  # no bar in a redirected log
    from zizi.cli.options import UNSIGNED_HINT

    assert r.stderr == UNSIGNED_HINT + "\n"  # no keys in the test's config folder: one line
    r = invoke("generate", ck, "--seeds", "5", "--out", tmp_path / "o", "--device", "cpu")
    assert r.output.startswith("Wrote 1 image to")


def test_doctor_build_without_cuda_says_there_is_nothing_to_build():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine can build the ops")
    r = invoke("doctor", "--build")
    assert r.exit_code == 0
    first = r.output.splitlines()[0]
    assert first.startswith("--build: nothing to build:") and "CUDA" in first
    assert "reference" in first


def test_plural_and_escape_helpers():
    assert [plural(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert printable("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"
    assert printable("Renée 顔.png") == "Renée 顔.png"


def test_captions_are_shortened_in_the_middle_keeping_the_extension(tmp_path: Path, monkeypatch):
    short = shorten_middle("workshop_2024_participant_0042.jpeg", 18)
    assert len(short) == 18 and short.startswith("worksh") and short.endswith("0042.jpeg")
    assert shorten_middle("a.png", 18) == "a.png"
    assert shorten_middle("x" * 30 + ".png", 12, "..").endswith(".png")
    # On a real sheet: the caption drawn is the shortened one (index, start .. extension).
    from zizi.data.sheets import write_sheet

    drawn = []

    class Spy:
        def __init__(self, real):
            self.real = real

        def text(self, xy, label, **kw):
            drawn.append(label)
            return self.real.text(xy, label, **kw)

    import PIL.ImageDraw

    real_draw = PIL.ImageDraw.Draw
    monkeypatch.setattr(PIL.ImageDraw, "Draw", lambda im: Spy(real_draw(im)))
    thumb = Image.fromarray(np.zeros((128, 128, 3), np.uint8))
    write_sheet([("photos/a_very_long_participant_name_0042.jpeg", thumb)], tmp_path, 0, 7)
    assert drawn == ["7 a_very..e_0042.jpeg"]  # 21 characters fit under a 128 px thumbnail


def test_docs_ffhq_1024_size_agrees_with_zizi_checkpoints():
    listing = invoke("checkpoints").output
    size = re.search(r"^ffhq-1024\s+1024px\s+~(\d+) MiB", listing, re.M).group(1)
    readme = (ROOT / "docs" / "checkpoints.md").read_text()
    said = re.search(r"FFHQ-1024 snapshot \(~(\d+) MiB", readme).group(1)
    assert said == size
