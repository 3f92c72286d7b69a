"""rosinality `.pt` files: reading both layouts, exporting, and refusing hostile files."""

from __future__ import annotations

import argparse
import io
import zipfile

import numpy as np
import pytest
import torch

from tests.helpers.tiny import FIXTURES, tiny_checkpoint
from zizi.errors import CheckpointError, UnsafePickleError
from zizi.io.checkpoint import build_discriminator, build_generator
from zizi.io.importers import detect_format, import_checkpoint
from zizi.io.rosinality import save_rosinality, to_rosinality


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_zizi_to_rosinality_to_zizi_is_bit_identical(tmp_path):
    ckpt = tiny_checkpoint(16)
    ckpt.augment_p = 0.25
    # The format has one latent_avg for all generators; NVIDIA training copies G's w_avg
    # into G_ema every step, so real checkpoints hold the same value in both.
    ckpt.tensors["G"]["mapping.w_avg"] = ckpt.tensors["G_ema"]["mapping.w_avg"].clone()
    path = save_rosinality(tmp_path / "tiny.pt", ckpt)
    assert detect_format(path) == "torch"
    back = import_checkpoint(path)
    assert back.g_config == ckpt.g_config
    assert back.d_config == ckpt.d_config
    assert back.augment_p == 0.25
    for net in ("G_ema", "G", "D"):
        _same(back.tensors[net], ckpt.tensors[net])
    assert back.provenance["importer"].startswith("rosinality")


def _expected_rosinality_g(res: int, channels: dict[int, int], w_dim: int, n_mlp: int) -> dict:
    """Names and shapes of rosinality's Generator, written from FORMATS.md §3."""
    s: dict[str, tuple] = {}
    for i in range(1, n_mlp + 1):
        s[f"style.{i}.weight"], s[f"style.{i}.bias"] = (w_dim, w_dim), (w_dim,)
    c4 = channels[4]
    s["input.input"] = (1, c4, 4, 4)

    def styled(p, cin, cout, up):
        s[f"{p}.conv.weight"] = (1, cout, cin, 3, 3)
        if up:
            s[f"{p}.conv.blur.kernel"] = (4, 4)
        s[f"{p}.conv.modulation.weight"], s[f"{p}.conv.modulation.bias"] = (cin, w_dim), (cin,)
        s[f"{p}.noise.weight"], s[f"{p}.activate.bias"] = (1,), (cout,)

    def rgb(p, cin, up):
        if up:
            s[f"{p}.upsample.kernel"] = (4, 4)
        s[f"{p}.conv.weight"] = (1, 3, cin, 1, 1)
        s[f"{p}.conv.modulation.weight"], s[f"{p}.conv.modulation.bias"] = (cin, w_dim), (cin,)
        s[f"{p}.bias"] = (1, 3, 1, 1)

    styled("conv1", c4, c4, False)
    rgb("to_rgb1", c4, False)
    s["noises.noise_0"] = (1, 1, 4, 4)
    r, k = 8, 0
    while r <= res:
        styled(f"convs.{2 * k}", channels[r // 2], channels[r], True)
        styled(f"convs.{2 * k + 1}", channels[r], channels[r], False)
        rgb(f"to_rgbs.{k}", channels[r], True)
        s[f"noises.noise_{2 * k + 1}"] = s[f"noises.noise_{2 * k + 2}"] = (1, 1, r, r)
        r, k = r * 2, k + 1
    return s


def _expected_rosinality_d(res: int, channels: dict[int, int]) -> dict:
    s: dict[str, tuple] = {
        "convs.0.0.weight": (channels[res], 3, 1, 1),
        "convs.0.1.bias": (channels[res],),
    }
    r, i = res, 1
    while r > 4:
        c, c2 = channels[r], channels[r // 2]
        s |= {
            f"convs.{i}.conv1.0.weight": (c, c, 3, 3),
            f"convs.{i}.conv1.1.bias": (c,),
            f"convs.{i}.conv2.0.kernel": (4, 4),
            f"convs.{i}.conv2.1.weight": (c2, c, 3, 3),
            f"convs.{i}.conv2.2.bias": (c2,),
            f"convs.{i}.skip.0.kernel": (4, 4),
            f"convs.{i}.skip.1.weight": (c2, c, 1, 1),
        }
        r, i = r // 2, i + 1
    c = channels[4]
    s |= {
        "final_conv.0.weight": (c, c + 1, 3, 3),
        "final_conv.1.bias": (c,),
        "final_linear.0.weight": (c, c * 16),
        "final_linear.0.bias": (c,),
        "final_linear.1.weight": (1, c),
        "final_linear.1.bias": (1,),
    }
    return s


@pytest.mark.parametrize("name", ["sg2ada-tiny", "sg3-stylegan2-tiny"])
def test_nvidia_fixture_export_has_rosinality_names_and_shapes(name, tmp_path):
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / f"{name}.pkl")
    data = to_rosinality(ckpt)
    channels = {4: 64, 8: 64, 16: 32, 32: 16}  # documented in tests/fixtures/README.md
    expected_g = _expected_rosinality_g(32, channels, 32, 8)
    for net in ("g_ema", "g"):
        assert {k: tuple(v.shape) for k, v in data[net].items()} == expected_g
    assert {k: tuple(v.shape) for k, v in data["d"].items()} == _expected_rosinality_d(32, channels)
    assert tuple(data["latent_avg"].shape) == (32,)
    # rosinality's blur buffers: normalised [1,3,3,1] ⊗ [1,3,3,1]; ×4 where it upsamples.
    k = torch.tensor([1.0, 3, 3, 1])
    k = torch.outer(k, k) / 64
    torch.testing.assert_close(data["g_ema"]["convs.0.conv.blur.kernel"], k * 4)
    torch.testing.assert_close(data["g_ema"]["to_rgbs.0.upsample.kernel"], k * 4)
    torch.testing.assert_close(data["d"]["convs.1.skip.0.kernel"], k)

    # ... and reading it back reproduces the reference outputs.
    path = save_rosinality(tmp_path / "x.pt", ckpt)
    back = import_checkpoint(path)
    expected = np.load(FIXTURES / "nvlabs" / f"{name}-expected.npz")
    z = torch.from_numpy(expected["z"]).float()
    img = build_generator(back)(z, noise_mode="const")
    np.testing.assert_allclose(img.numpy(), expected["img_psi1_const"], atol=1e-4, rtol=0)
    logits = build_discriminator(back)(torch.from_numpy(expected["img_psi1_const"]).float())
    np.testing.assert_allclose(
        logits.numpy(), expected["d_logits_of_img_psi1_const"], atol=1e-4, rtol=0
    )


def test_training_checkpoint_reads_args_and_ada_p(tmp_path):
    ckpt = tiny_checkpoint(8, seed=3)
    conv = to_rosinality(ckpt)
    g = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(g.parameters())
    g(torch.ones(1, 2)).sum().backward()
    opt.step()
    train = {
        "g": conv["g"],
        "d": conv["d"],
        "g_ema": conv["g_ema"],
        "g_optim": opt.state_dict(),
        "d_optim": opt.state_dict(),
        "args": argparse.Namespace(
            size=8, latent=16, n_mlp=2, channel_multiplier=2, path="/data/faces"
        ),
        "ada_aug_p": 0.3,
    }
    path = tmp_path / "train.pt"
    torch.save(train, path)
    back = import_checkpoint(path, which="g_ema")
    assert set(back.tensors) == {"G_ema", "D"}
    assert back.augment_p == pytest.approx(0.3)
    assert back.extra["source_args"]["n_mlp"] == 2
    assert "w_avg_estimated" in back.extra  # no latent_avg in training checkpoints
    for k, v in ckpt.tensors["G_ema"].items():
        if k != "mapping.w_avg":
            assert torch.equal(back.tensors["G_ema"][k], v), k
    assert back.tensors["G_ema"]["mapping.w_avg"].abs().sum() > 0


class _Evil:
    def __reduce__(self):
        import os

        return os.system, ("echo pwned",)


def test_disallowed_global_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "payload": _Evil()}, path)
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
        import_checkpoint(path)


def test_truncated_refused(tmp_path):
    path = save_rosinality(tmp_path / "ok.pt", tiny_checkpoint(8))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with pytest.raises(CheckpointError, match="truncated"):
        import_checkpoint(cut)


def test_zip_of_something_else_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("photos/face.txt", "not weights")
    path = tmp_path / "ffhq.pt"
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        import_checkpoint(path)


def test_other_torch_file_refused(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(CheckpointError, match="not a rosinality"):
        import_checkpoint(path)


def test_legacy_non_zip_torch_file_reads(tmp_path):
    ckpt = tiny_checkpoint(8, seed=9)
    path = tmp_path / "old.pt"
    torch.save(to_rosinality(ckpt), path, _use_new_zipfile_serialization=False)
    assert detect_format(path) == "torch"
    back = import_checkpoint(path)
    _same(back.tensors["G_ema"], ckpt.tensors["G_ema"])
