"""A StyleGAN3 (alias-free) network pickle gets one line saying what it is and what zizi reads."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

from tests.helpers.cli import invoke
from tests.helpers.nvlabs_writer import _install_fake_module, _Record
from zizi.errors import CheckpointError
from zizi.io.importers import import_checkpoint


def _rec(cls, modules=None, buffers=None, **attrs):
    state = {
        "training": False,
        "_parameters": OrderedDict(),
        "_buffers": OrderedDict(buffers or {}),
        "_modules": OrderedDict(modules or {}),
        "_init_args": (),
        "_init_kwargs": {},
        **attrs,
    }
    return _Record(
        {
            "type": "class",
            "version": 6,
            "module_src": "# source removed",
            "class_name": cls,
            "state": state,
        }
    )


def _stylegan3_pickle(path, protocol):
    """The shape of a stylegan3-r/t pickle: a Fourier-feature input layer and L{i}_{size}_{ch}
    layers whose state holds numpy arrays and numpy scalars (as networks_stylegan3.py keeps)."""
    _install_fake_module()
    layer = dict(
        in_size=np.array([36, 36]),
        out_size=np.array([36, 36]),
        in_sampling_rate=np.float64(16.0),
        out_cutoff=np.float64(2.0),
        conv_clamp=256,
    )
    inp = _rec(
        "SynthesisInput",
        buffers={"freqs": torch.randn(8, 2), "phases": torch.rand(8)},
        size=np.array([36, 36]),
        sampling_rate=np.float64(16.0),
        bandwidth=np.float64(2.0),
    )
    syn = _rec(
        "SynthesisNetwork",
        {"input": inp, "L0_36_8": _rec("SynthesisLayer", **layer)},
        img_resolution=16,
        num_ws=4,
    )
    G = _rec(
        "Generator",
        {"mapping": _rec("MappingNetwork", num_layers=2), "synthesis": syn},
        z_dim=8,
        c_dim=0,
        w_dim=8,
        img_resolution=16,
        img_channels=3,
    )
    import pickle

    path.write_bytes(
        pickle.dumps(
            {
                "G": G,
                "D": _rec("Discriminator"),
                "G_ema": G,
                "augment_pipe": None,
                "training_set_kwargs": None,
            },
            protocol=protocol,
        )
    )
    return path


@pytest.mark.parametrize("protocol", [2, 4])
def test_stylegan3_pickle_is_named_in_one_line(tmp_path, protocol):
    path = _stylegan3_pickle(tmp_path / "stylegan3-r-ffhqu-256x256.pkl", protocol)
    with pytest.raises(CheckpointError, match=r"StyleGAN3 \(alias-free"):
        import_checkpoint(path)
    out = tmp_path / "x.safetensors"
    r = invoke("import", path, "--out", out)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output
    assert "doesn't train or render" in r.output and "StyleGAN2" in r.output
    assert "allow-list" not in r.output and not out.exists()
