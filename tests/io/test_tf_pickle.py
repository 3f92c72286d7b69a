"""TF StyleGAN2 pickles: zizi -> TF-structured pickle -> import reproduces outputs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from tests.helpers.tf_writer import fake_tf_modules, write_tf_pickle
from tests.helpers.tiny import tiny_checkpoint
from zizi.errors import CheckpointError, UnsafePickleError
from zizi.io.checkpoint import build_discriminator, build_generator
from zizi.io.importers import detect_format, import_checkpoint


@pytest.fixture(scope="module")
def tf_file(tmp_path_factory):
    ckpt = tiny_checkpoint(16)
    path = tmp_path_factory.mktemp("tf") / "stylegan2-tiny-config-f.pkl"
    t = ckpt.tensors
    write_tf_pickle(path, t["G"], t["D"], t["G_ema"], 16, fmap_base=128)
    return ckpt, path


def _images(ckpt, which="G_ema", psi=1.0):
    g = build_generator(ckpt, which)
    z = torch.from_numpy(np.random.RandomState(0).randn(3, g.z_dim)).float()
    return g(z, truncation_psi=psi, noise_mode="const")


def test_detected_from_content_not_name(tf_file, tmp_path):
    _, path = tf_file
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes(path.read_bytes())
    assert detect_format(renamed) == "tf"


@pytest.mark.parametrize("which", ["G_ema", "G"])
def test_round_trip_reproduces_generator(tf_file, which):
    ckpt, path = tf_file
    got = import_checkpoint(path)
    assert got.g_config == ckpt.g_config
    for name, t in ckpt.tensors[which].items():
        torch.testing.assert_close(got.tensors[which][name], t, rtol=0, atol=1e-6, msg=name)
    for psi in (1.0, 0.5):
        torch.testing.assert_close(
            _images(got, which, psi), _images(ckpt, which, psi), rtol=0, atol=1e-5
        )


def test_round_trip_reproduces_discriminator(tf_file):
    ckpt, path = tf_file
    got = import_checkpoint(path)
    assert got.d_config.img_resolution == 16 and got.d_config.channel_max == 32
    img = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        build_discriminator(got)(img), build_discriminator(ckpt)(img), rtol=0, atol=1e-5
    )


def test_which_picks_one_generator(tf_file):
    _, path = tf_file
    assert set(import_checkpoint(path, which="g").tensors) == {"G", "D"}
    prov = import_checkpoint(path).provenance
    assert prov["importer"].startswith("nvidia-tf") and len(prov["source_sha256"]) == 64


def test_new_numpy_array_globals_also_read(tmp_path):
    ckpt = tiny_checkpoint(8, seed=5)
    t = ckpt.tensors
    path = tmp_path / "new.pkl"
    write_tf_pickle(path, t["G"], t["D"], t["G_ema"], 8, old_numpy_names=False)
    assert b"numpy._core.multiarray" in path.read_bytes()
    got = import_checkpoint(path)
    torch.testing.assert_close(_images(got), _images(ckpt), rtol=0, atol=1e-5)


def test_disallowed_global_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return os.system, ("echo pwned",)

    from tests.helpers.tf_writer import _Network

    with fake_tf_modules():
        data = pickle.dumps((_Network("G", [("x", Evil())]), None, None), protocol=3)
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
        import_checkpoint(path)


def test_truncated_file_refused(tf_file, tmp_path):
    _, path = tf_file
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        import_checkpoint(cut)


def test_object_array_refused(tmp_path):
    from tests.helpers.tf_writer import _Network

    with fake_tf_modules(old_numpy_names=False):
        data = pickle.dumps(
            (_Network("G", [("x", np.array(["a", 1], dtype=object))]), None, None), protocol=3
        )
    path = tmp_path / "objects.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match="object dtype"):
        import_checkpoint(path)


def test_tuple_of_other_things_refused(tmp_path):
    from tests.helpers.tf_writer import _Network

    with fake_tf_modules(old_numpy_names=False):
        data = pickle.dumps([_Network("G", [])], protocol=3)
    path = tmp_path / "list.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"not the \(G, D, Gs\) network tuple"):
        import_checkpoint(path)


def test_protocol_1_pickles_read(tmp_path):
    from tests.helpers.tf_writer import _Network

    with fake_tf_modules(old_numpy_names=False):
        data = pickle.dumps((_Network("G", [("a", np.ones(3, np.float32))]),), protocol=1)
    from zizi.io.safe_pickle import safe_load
    from zizi.io.tf_pickle import tf_allow

    (net,) = safe_load(__import__("io").BytesIO(data), tf_allow())
    np.testing.assert_array_equal(net.flat_variables()["a"], np.ones(3, np.float32))
