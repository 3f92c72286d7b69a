"""TF StyleGAN2 pickles as TF1 wrote them, checked against an independent reference.

The pickles come from tests/helpers/tf_writer.py (TF variables generated in TF's own
layout, rank-0 values as numpy scalars, numpy 1 module names, protocols 2-4) and the
expected outputs from tests/helpers/tf_reference.py (the TF graph's maths in float64
numpy, reading those same TF variables). Neither uses zizi's importer or networks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import tf_reference as ref
from tests.helpers.cli import invoke, one_line
from tests.helpers.tf_writer import (
    ADA_FUNCS,
    STYLEGAN2_FUNCS,
    ada_spec,
    config_f_spec,
    tf_networks,
    tf_pickle_bytes,
    write_tf_pickle,
)
from zizi.errors import CheckpointError, UnsafePickleError
from zizi.io.checkpoint import build_discriminator, build_generator
from zizi.io.importers import detect_format, import_checkpoint

TOL = 1e-5

# name -> (spec, build functions, protocol, numpy module name)
STYLES = {
    "config-f": (lambda: config_f_spec(), STYLEGAN2_FUNCS, 2, "numpy.core.multiarray"),
    "config-f-numpy2": (lambda: config_f_spec(), STYLEGAN2_FUNCS, 4, "numpy._core.multiarray"),
    "ada": (lambda: ada_spec(conv_clamp=0.6), ADA_FUNCS, 3, "numpy.core.multiarray"),
    "ada-conditional": (
        lambda: ada_spec(conv_clamp=0.6, label_size=3, d_mapping_layers=2),
        ADA_FUNCS,
        4,
        "numpy.core.multiarray",
    ),
    "ada-conditional-no-d-mapping": (
        lambda: ada_spec(label_size=2, label_fmaps=6, d_mapping_fmaps=12),
        ADA_FUNCS,
        2,
        "numpy.core.multiarray",
    ),
}


@pytest.fixture(scope="module", params=list(STYLES))
def style(request, tmp_path_factory):
    make, funcs, protocol, npmod = STYLES[request.param]
    spec = make()
    path = tmp_path_factory.mktemp("tf") / f"{request.param}.pkl"
    variables = write_tf_pickle(
        path, spec, seed=3, protocol=protocol, numpy_module=npmod, funcs=funcs
    )
    return request.param, spec, path, variables, protocol, npmod


def _inputs(spec, n=4):
    z = np.random.RandomState(7).randn(n, spec.latent_size)
    c = np.eye(spec.label_size)[np.arange(n) % spec.label_size] if spec.label_size else None
    return z, c


def _t(a):
    return None if a is None else torch.from_numpy(np.asarray(a)).float()


def test_written_as_tf1_did(style):
    """The file really has numpy scalars, `lod`, the old module names and the protocol asked for."""
    name, spec, path, variables, protocol, npmod = style
    data = path.read_bytes()
    assert data[:2] == bytes([0x80, protocol])
    other = "numpy._core" if npmod.startswith("numpy.core") else "numpy.core"
    assert npmod.encode() in data and other.encode() not in data
    assert b"scalar" in data and b"_reconstruct" in data and b"dnnlib.tflib.network" in data
    assert isinstance(variables["Gs"]["synthesis/4x4/Conv/noise_strength"], np.float32)
    assert ("lod" in variables["G"]) == spec.lod
    assert detect_format(path) == "tf"


@pytest.mark.parametrize("which,tf_name", [("G_ema", "Gs"), ("G", "G")])
def test_generator_matches_the_tf_graph(style, which, tf_name):
    name, spec, path, variables, *_ = style
    ckpt = import_checkpoint(path)
    G = build_generator(ckpt, which)
    z, c = _inputs(spec)
    for psi in (1.0, 0.7):
        ws, img = ref.generator(variables[tf_name], z, c, psi=psi, clamp=spec.conv_clamp)
        with torch.no_grad():
            got_ws = G.mapping(_t(z), _t(c), truncation_psi=psi)
            got = G(_t(z), _t(c), truncation_psi=psi, noise_mode="const")
        np.testing.assert_allclose(got_ws.numpy(), ws, atol=TOL, rtol=0)
        np.testing.assert_allclose(got.numpy(), img, atol=TOL, rtol=0)


def test_discriminator_matches_the_tf_graph(style):
    name, spec, path, variables, *_ = style
    ckpt = import_checkpoint(path)
    z, c = _inputs(spec)
    _, img = ref.generator(variables["Gs"], z, c, clamp=spec.conv_clamp)
    expected = ref.discriminator(
        variables["D"], img, c, clamp=spec.conv_clamp, mbstd_group_size=spec.mbstd_group_size
    )
    with torch.no_grad():
        got = build_discriminator(ckpt)(_t(img), _t(c))
    np.testing.assert_allclose(got.numpy(), expected, atol=TOL, rtol=0)


def test_settings_read_from_static_kwargs(style):
    name, spec, path, *_ = style
    ckpt = import_checkpoint(path)
    g, d = ckpt.g_config, ckpt.d_config
    assert g.conv_clamp == spec.conv_clamp and d.conv_clamp == spec.conv_clamp
    assert g.num_fp16_res == d.num_fp16_res == (2 if name.startswith("ada") else 0)
    assert g.c_dim == d.c_dim == spec.label_size
    assert (g.channel_base, g.channel_max) == (2 * spec.fmap_base, spec.fmap_max)
    assert d.mbstd_group_size == 4


def test_conv_clamp_changes_the_images(tmp_path):
    """The clamp the ADA fixtures use really bites, so honouring it is what the parity shows."""
    spec = ada_spec(conv_clamp=0.6)
    variables = write_tf_pickle(tmp_path / "a.pkl", spec, seed=3, funcs=ADA_FUNCS)
    z, _ = _inputs(spec)
    _, clamped = ref.generator(variables["Gs"], z, clamp=0.6)
    _, free = ref.generator(variables["Gs"], z, clamp=None)
    assert np.abs(clamped - free).max() > 0.1


def test_lod_is_ignored_whatever_its_value(tmp_path):
    spec = config_f_spec()
    nets, variables = tf_networks(spec, seed=1)
    for net in (nets[0], nets[2]):
        net.state["variables"] = [
            (k, np.float32(2.0) if k == "lod" else v) for k, v in net.state["variables"]
        ]
    path = tmp_path / "lod.pkl"
    path.write_bytes(tf_pickle_bytes(nets, protocol=2))
    z, _ = _inputs(spec)
    _, img = ref.generator(variables["Gs"], z)
    with torch.no_grad():
        got = build_generator(import_checkpoint(path))(_t(z), noise_mode="const")
    np.testing.assert_allclose(got.numpy(), img, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    "func,kw,expected",
    [
        ("D_stylegan2", {}, 4),  # NVlabs/stylegan2 config-f omits it; its graph default is 4
        ("D_main", {}, None),  # stylegan2-ada's D_main default: the whole minibatch
        ("D_main", {"mbstd_group_size": 8}, 8),
        ("D_stylegan2", {"mbstd_group_size": None}, None),
    ],
)
def test_minibatch_stddev_group_size_default(tmp_path, func, kw, expected):
    spec = config_f_spec()
    spec.d_kwargs.update(kw)
    nets, _ = tf_networks(spec, funcs={**STYLEGAN2_FUNCS, "D": func})
    path = tmp_path / "d.pkl"
    path.write_bytes(tf_pickle_bytes(nets))
    assert import_checkpoint(path).d_config.mbstd_group_size == expected


# ----------------------------------------------------------------------------- refusals


def _cli_one_line(path, *args) -> str:
    out = path.with_suffix(".safetensors")
    r = invoke("import", path, "--out", out, *args)
    return one_line(r, code=1, alone=True, out=out)


def _write(tmp_path, spec, funcs=None, d_variables=None, name="x.pkl"):
    nets, variables = tf_networks(spec, funcs=funcs, d_variables=d_variables)
    path = tmp_path / name
    path.write_bytes(tf_pickle_bytes(nets))
    return path, nets, variables


@pytest.mark.parametrize(
    "net,name,value",
    [
        ("g", "nonlinearity", "relu"),
        ("g", "mapping_nonlinearity", "tanh"),
        ("g", "resample_kernel", [1, 1]),
        ("g", "resample_kernel", None),
        ("g", "fmap_decay", 0.5),
        ("g", "normalize_latents", False),
        ("d", "nonlinearity", "relu"),
        ("d", "resample_kernel", [1, 2, 1]),
        ("d", "use_spectral_norm", True),
        ("d", "adaptive_dropout", 1),
    ],
)
def test_settings_that_change_the_maths_are_refused_by_name(tmp_path, net, name, value):
    spec = config_f_spec()
    (spec.g_kwargs if net == "g" else spec.d_kwargs)[name] = value
    path, *_ = _write(tmp_path, spec)
    with pytest.raises(
        CheckpointError, match=f"{name}={value!r}".replace("[", r"\[").replace("(", r"\(")
    ):
        import_checkpoint(path)
    assert name in _cli_one_line(path)


def test_generator_architectures_other_than_skip_are_refused(tmp_path):
    for arch in ("resnet", "orig"):
        spec = config_f_spec()
        spec.g_kwargs["architecture"] = arch
        path, *_ = _write(tmp_path, spec, name=f"{arch}.pkl")
        msg = _cli_one_line(path)
        assert f"generator architecture '{arch}' is not supported" in msg
        with pytest.raises(CheckpointError, match=f"generator architecture '{arch}'"):
            import_checkpoint(path, which="G_ema")
    # without the kwarg, a generator with Skip convs is recognised as resnet
    spec = config_f_spec()
    nets, _ = tf_networks(spec)
    for g in (nets[0], nets[2]):
        syn = g.state["components"]["synthesis"].state["variables"]
        syn.append(("8x8/Skip/weight", np.ones((1, 1, 16, 16), np.float32)))
    path = tmp_path / "resnet-inferred.pkl"
    path.write_bytes(tf_pickle_bytes(nets))
    assert "generator architecture 'resnet'" in _cli_one_line(path)


def _d_without_skip(spec, arch):
    d = dict(
        __import__("tests.helpers.tf_writer", fromlist=["x"]).discriminator_variables(
            spec, np.random.RandomState(0)
        )
    )
    d = {k: v for k, v in d.items() if "/Skip/" not in k}
    if arch == "skip":  # one FromRGB per resolution
        d["8x8/FromRGB/weight"] = np.ones((1, 1, 3, 16), np.float32)
        d["8x8/FromRGB/bias"] = np.zeros(16, np.float32)
    return list(d.items())


@pytest.mark.parametrize(
    "arch,declared", [("orig", True), ("orig", False), ("skip", True), ("skip", False)]
)
def test_discriminator_architecture_refused_but_generator_alone_imports(tmp_path, arch, declared):
    spec = ada_spec()
    if declared:
        spec.d_kwargs["architecture"] = arch
    path, nets, variables = _write(
        tmp_path, spec, funcs=ADA_FUNCS, d_variables=_d_without_skip(spec, arch)
    )
    msg = _cli_one_line(path)
    assert f"discriminator architecture '{arch}' is not supported" in msg and "--which G_ema" in msg
    ckpt = import_checkpoint(path, which="G_ema")
    assert set(ckpt.tensors) == {"G_ema"} and ckpt.d_config is None
    assert "not supported" in ckpt.extra["tf_discriminator_skipped"]
    z, _ = _inputs(spec)
    _, img = ref.generator(variables["Gs"], z, clamp=spec.conv_clamp)
    with torch.no_grad():
        np.testing.assert_allclose(
            build_generator(ckpt)(_t(z), noise_mode="const").numpy(), img, atol=TOL
        )
    out = tmp_path / "g.safetensors"
    r = invoke("import", path, "--out", out, "--which", "G_ema")
    assert r.exit_code == 0 and out.exists(), r.output


@pytest.mark.parametrize(
    "func,what",
    [
        ("G_style", "StyleGAN (2018)"),
        ("G_synthesis_stylegan_revised", "config-a..d"),
        ("my_custom_G", "built by my_custom_G"),
    ],
)
def test_other_build_functions_are_refused(tmp_path, func, what):
    spec = config_f_spec()
    key = "synthesis" if "synthesis" in func else "G"
    path, *_ = _write(tmp_path, spec, funcs={**STYLEGAN2_FUNCS, key: func})
    assert what in _cli_one_line(path)


def test_stylegan2_conditional_networks_refused(tmp_path):
    spec = config_f_spec()
    nets, _ = tf_networks(spec)
    mapping = nets[2].state["components"]["mapping"].state
    mapping["variables"].insert(0, ("LabelConcat/weight", np.ones((3, 8), np.float32)))
    path = tmp_path / "labelconcat.pkl"
    path.write_bytes(tf_pickle_bytes(nets))
    assert "LabelConcat" in _cli_one_line(path, "--which", "G_ema")

    spec = config_f_spec()
    spec.d_kwargs["label_size"] = 3
    d = [
        (
            k,
            np.ones((16, 3), np.float32)
            if k == "Output/weight"
            else np.ones(3, np.float32)
            if k == "Output/bias"
            else v,
        )
        for k, v in __import__("tests.helpers.tf_writer", fromlist=["x"]).discriminator_variables(
            spec, np.random.RandomState(0)
        )
    ]
    path, *_ = _write(tmp_path, spec, d_variables=d, name="dlabel.pkl")
    assert "conditional NVlabs/stylegan2 discriminators" in _cli_one_line(path)


def test_unknown_variables_are_refused_not_dropped(tmp_path):
    spec = config_f_spec()
    nets, _ = tf_networks(spec)
    nets[1].state["variables"].append(("16x16/Conv0/weight_sn", np.ones((1, 16), np.float32)))
    path = tmp_path / "sn.pkl"
    path.write_bytes(tf_pickle_bytes(nets))
    assert "16x16/Conv0/weight_sn" in _cli_one_line(path)


def test_missing_variable_named(tmp_path):
    spec = config_f_spec()
    nets, _ = tf_networks(spec)
    syn = nets[2].state["components"]["synthesis"].state
    syn["variables"] = [(k, v) for k, v in syn["variables"] if k != "8x8/Conv1/noise_strength"]
    path = tmp_path / "m.pkl"
    path.write_bytes(tf_pickle_bytes(nets))
    assert "8x8/Conv1/noise_strength is missing" in _cli_one_line(path)


# ----------------------------------------------------------------------------- hostile data


def _pickle_with_value(tmp_path, value, protocol=2) -> bytes:
    spec = config_f_spec()
    nets, _ = tf_networks(spec)
    nets[2].state["variables"].append(("evil", value))
    path = tmp_path / "v.pkl"
    path.write_bytes(tf_pickle_bytes(nets, protocol=protocol))
    return path


@pytest.mark.parametrize(
    "value",
    [
        np.array(["a", 1], dtype=object),
        np.array([b"xy"]),
        np.zeros(2, dtype=[("a", "<f4")]),
        np.array(["text"]),
    ],
)
def test_non_numeric_arrays_refused(tmp_path, value):
    with pytest.raises(UnsafePickleError, match="not a plain numeric type|numpy dtype"):
        import_checkpoint(_pickle_with_value(tmp_path, value))


@pytest.mark.parametrize("value", [np.str_("abc"), np.datetime64(1, "D"), np.void(b"abcd")])
def test_non_numeric_scalars_refused(tmp_path, value):
    with pytest.raises(UnsafePickleError, match="numpy dtype"):
        import_checkpoint(_pickle_with_value(tmp_path, value))


def test_object_scalar_refused(tmp_path):
    # numpy.core.multiarray.scalar(dtype('O'), ...) would be a pointer read from the file
    data = (
        b"\x80\x02cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R"
        b"C\x08AAAAAAAA\x86R."
    )
    path = tmp_path / "o.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match="not a plain numeric type"):
        import_checkpoint(path)


def test_dtype_state_that_is_not_plain_is_refused(tmp_path):
    # a float dtype whose BUILD state claims fields and object flags
    data = (
        b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R"
        b"(K\x03X\x01\x00\x00\x00<N(X\x01\x00\x00\x00at}K\x04K\x01K?tb."
    )
    path = tmp_path / "d.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match="numpy dtype record is not a plain numeric type"):
        import_checkpoint(path)


def test_disallowed_global_inside_network_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    spec = config_f_spec()
    nets, _ = tf_networks(spec)
    nets[0].state["static_kwargs"]["x"] = Evil()
    path = tmp_path / "evil.pkl"
    path.write_bytes(tf_pickle_bytes(nets))
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
        import_checkpoint(path)
    assert not marker.exists()


def test_truncated_file_refused(style, tmp_path):
    _, _, path, *_ = style
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        import_checkpoint(cut)


def test_tuple_of_other_things_refused(tmp_path):
    spec = config_f_spec()
    nets, _ = tf_networks(spec)
    path = tmp_path / "list.pkl"
    path.write_bytes(tf_pickle_bytes([nets[0]]))
    with pytest.raises(CheckpointError, match=r"not the \(G, D, Gs\) network tuple"):
        import_checkpoint(path)


def test_protocol_1_pickles_read(tmp_path):
    spec = config_f_spec()
    nets, variables = tf_networks(spec, seed=2)
    path = tmp_path / "p1.pkl"
    path.write_bytes(tf_pickle_bytes(nets, protocol=1))
    from zizi.io.safe_pickle import safe_load
    from zizi.io.tf_pickle import convert_tf, tf_allow

    with open(path, "rb") as f:
        ckpt = convert_tf(safe_load(f, tf_allow()), str(path))
    z, _ = _inputs(spec)
    _, img = ref.generator(variables["Gs"], z)
    with torch.no_grad():
        np.testing.assert_allclose(
            build_generator(ckpt)(_t(z), noise_mode="const").numpy(), img, atol=TOL
        )


def test_which_picks_one_generator(style):
    _, _, path, *_ = style
    assert set(import_checkpoint(path, which="g").tensors) == {"G", "D"}
    prov = import_checkpoint(path).provenance
    assert prov["importer"].startswith("nvidia-tf") and len(prov["source_sha256"]) == 64
