"""Inception loaders: each file format, written by the test from a random network of the
right structure, loads into a detector that gives that network's features; files zizi
cannot use are refused with one clear message and nothing in them runs."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
import torch

from tests.helpers.inception import NvidiaLikeInception, persistence_pickle
from zizi.metrics.inception import (
    InceptionFileError,
    InceptionMissingError,
    UntrustedTorchScriptError,
    find_inception,
    load_inception,
)
from zizi.metrics.inception_net import InceptionV3


def _scripted() -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    return torch.jit.script(NvidiaLikeInception().eval())


def _images(n: int = 3) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, 16, 16), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIZI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ZIZI_INCEPTION", raising=False)


@pytest.mark.parametrize("name", ["inception-2015-12-05.pt", "inception-2015-12-05.pkl"])
def test_torchscript_archive_loads_with_jit_and_gives_its_features(tmp_path, name):
    net = _scripted()
    path = tmp_path / name
    torch.jit.save(net, str(path))
    assert path.read_bytes()[:4] == b"PK\x03\x04"  # a TorchScript file is a zip archive
    with pytest.raises(UntrustedTorchScriptError, match="runs code"):
        load_inception(path)  # TorchScript runs code from the file: only with the opt-in
    det = load_inception(path, allow_torchscript=True)
    assert det.kind == "torchscript"
    imgs = _images()
    torch.testing.assert_close(det(imgs), net(imgs, return_features=True))


def test_pickle_wrapping_a_torchscript_archive_goes_through_the_allow_list_reader(tmp_path):
    net = _scripted()
    buf = io.BytesIO()
    torch.jit.save(net, buf)
    path = tmp_path / "inception-2015-12-05.pkl"
    path.write_bytes(persistence_pickle({"_modules": {}, "script_bytes": buf.getvalue()}))
    with pytest.raises(UntrustedTorchScriptError, match="--trust-torchscript"):
        load_inception(path)
    det = load_inception(path, allow_torchscript=True)
    imgs = _images()
    torch.testing.assert_close(det(imgs), net(imgs, return_features=True))


def test_pickle_holding_only_python_source_and_tensors_is_refused(tmp_path):
    path = tmp_path / "inception-2015-12-05.pkl"
    path.write_bytes(persistence_pickle({"_modules": {}, "weights": [1.0, 2.0]}))
    with pytest.raises(InceptionFileError, match="InceptionDetector.*never does"):
        load_inception(path)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_hostile_pickle_is_refused_before_anything_runs(tmp_path):
    path = tmp_path / "inception-2015-12-05.pkl"
    path.write_bytes(pickle.dumps(_Boom(), protocol=2))
    with pytest.raises(InceptionFileError, match="not on zizi's allow-list"):
        load_inception(path)


def _random_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    net = InceptionV3()
    state = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue  # older torch wrote none; the loader must not need them
        if k.endswith("running_var"):
            state[k] = torch.rand(v.shape) + 0.5
        elif k.endswith("running_mean"):
            state[k] = torch.randn(v.shape) * 0.1
        else:
            state[k] = (
                torch.randn(v.shape) * 0.05 if k.endswith("weight") and v.ndim > 1 else v + 0.01
            )
    return state


@pytest.mark.parametrize("legacy", [False, True])
def test_pytorch_fid_state_dict_loads_into_inception_v3(tmp_path, legacy):
    state = _random_state()
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    det = load_inception(path)
    assert det.kind == "pytorch-fid"
    loaded = det.net.state_dict()
    for k, v in state.items():
        torch.testing.assert_close(loaded[k], v, rtol=0, atol=0)


def test_pytorch_fid_detector_gives_inception_v3_pool_features(tmp_path):
    state = _random_state()
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    det = load_inception(path)
    img = _images(1)
    feats = det(img)
    assert feats.shape == (1, 2048) and torch.isfinite(feats).all()
    # the same as running the network by hand on pixels / 255 (one more forward pass)
    ref = InceptionV3()
    ref.load_state_dict(state, strict=False)
    with torch.no_grad():
        torch.testing.assert_close(feats, ref.eval()(img.float() / 255), rtol=1e-4, atol=1e-5)


def test_state_dict_of_another_network_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(InceptionFileError, match="not pytorch-fid's Inception"):
        load_inception(path)


def test_zip_that_is_neither_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(InceptionFileError):
        load_inception(path)


def test_without_a_file_the_message_says_where_to_put_it(tmp_path):
    with pytest.raises(InceptionMissingError) as e:
        find_inception()
    assert str(tmp_path / "cache" / "inception") in str(e.value)
    assert "--inception" in str(e.value) and "\n" not in str(e.value)


def test_found_in_the_cache_folder_and_via_the_environment(tmp_path, monkeypatch):
    net = _scripted()
    folder = tmp_path / "cache" / "inception"
    folder.mkdir(parents=True)
    torch.jit.save(net, str(folder / "inception-2015-12-05.pt"))
    assert find_inception() == folder / "inception-2015-12-05.pt"
    other = tmp_path / "elsewhere.pt"
    torch.jit.save(net, str(other))
    monkeypatch.setenv("ZIZI_INCEPTION", str(other))
    assert find_inception() == other
    with pytest.raises(InceptionMissingError, match="not found"):
        find_inception(tmp_path / "nope.pt")


@pytest.mark.slow
def test_full_pipeline_fid_with_a_random_inception_identical_sets_near_zero(tmp_path):
    """End to end on 2048-d features: pytorch-fid file -> detector -> float64 stats -> FID.
    Slow: four Inception passes and two 2048² matrix square roots."""
    from zizi.metrics.features import feature_stats
    from zizi.metrics.frechet import frechet_distance

    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(_random_state(), path)
    det = load_inception(path)
    a = _images(2)
    b = torch.flip(a, dims=[3])  # mirrored: other features, same kind of image
    sa = feature_stats(iter([a]), det, 2, keep_all=False).mean_cov()
    sa2 = feature_stats(iter([a.clone()]), det, 2, keep_all=False).mean_cov()
    sb = feature_stats(iter([b]), det, 2, keep_all=False).mean_cov()
    scale = float(np.trace(sa[1])) + 1e-12
    assert abs(frechet_distance(*sa, *sa2)) < 1e-3 * scale
    assert frechet_distance(*sa, *sb) > 1e-3 * scale
