"""`zizi export --format rosinality`."""

from __future__ import annotations

import torch

from tests.helpers.cli import invoke
from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import save_checkpoint


def test_export_rosinality(tmp_path):
    ckpt = tiny_checkpoint(16)
    src = save_checkpoint(tmp_path / "tiny.safetensors", ckpt)
    out = tmp_path / "tiny.pt"
    result = invoke("export", src, "--format", "rosinality", "--out", out)
    assert result.exit_code == 0, result.output
    assert "channel table" in result.output  # tiny channels: rosinality's code would need them set
    data = torch.load(out, weights_only=True)
    assert set(data) == {"g_ema", "latent_avg", "g", "d"}
    assert torch.equal(data["g_ema"]["style.1.weight"], ckpt.tensors["G_ema"]["mapping.fc0.weight"])
    assert torch.equal(data["latent_avg"], ckpt.tensors["G_ema"]["mapping.w_avg"])

    again = invoke("export", src, "--out", out)
    assert again.exit_code != 0 and "--force" in again.output


def test_export_of_non_zizi_file_is_one_line_error(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x80\x04junk")
    result = invoke("export", bad, "--out", tmp_path / "y.pt")
    assert result.exit_code == 2 and "not a zizi checkpoint" in result.output  # a usage mistake
    assert "Traceback" not in result.output


def test_export_refuses_a_safetensors_name(tmp_path):
    src = save_checkpoint(tmp_path / "tiny.safetensors", tiny_checkpoint(8))
    result = invoke("export", src, "--out", tmp_path / "x.safetensors")
    assert (
        result.exit_code == 2 and ".pt" in result.output
    )  # was: a torch pickle named .safetensors
    assert not (tmp_path / "x.safetensors").exists()
