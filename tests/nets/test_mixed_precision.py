"""The reduced-precision path (top resolutions, conv_clamp) computes what fp32 computes.

`--precision` forces fp16 or bf16 on any device, so the CPU runs here the same code that
`--device cuda` switches on by default: the block dtypes, the fp16 pre-scaling of the
modulated convolution, conv_clamp, and first and second derivatives through it all.
"""

import numpy as np
import pytest
import torch

from tests.helpers.tiny import FIXTURES
from zizi.errors import ZiziError
from zizi.io.checkpoint import build_discriminator, build_generator
from zizi.io.importers import import_checkpoint
from zizi.nets.precision import check_supported, reduced_dtype, resolve, set_precision

CPU = torch.device("cpu")

# Largest error relative to the fp32 result's largest magnitude, measured on this fixture
# (torch 2.13, CPU, seeds 0-2): fp16 image 1.8e-3, logits 9.1e-4, G grads 5.8e-3, D grads
# 6.1e-3, R1 grads 2.0e-2; bf16 (3 fewer mantissa bits) image 1.2e-2, logits 5.4e-3, G
# grads 2.1e-2, D grads 2.5e-2, R1 grads 1.0e-1. The bounds are about 3x the measured
# values; `0 < err` fails when nothing ran in reduced precision.
TOL = {
    "fp16": {"img": 6e-3, "logits": 3e-3, "G grads": 2e-2, "D grads": 2e-2, "R1 grads": 6e-2},
    "bf16": {"img": 4e-2, "logits": 2e-2, "G grads": 6e-2, "D grads": 8e-2, "R1 grads": 3e-1},
}


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def nets(request, monkeypatch):
    """G and D of the tiny fixture on the CPU, and (marked gpu) on CUDA with the kernels;
    exact float32 convolutions there (no TF32), so fp32 is a true reference."""
    if request.param == "cuda":
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
        monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny.pkl")  # num_fp16_res=2
    assert ckpt.g_config.num_fp16_res == 2 and ckpt.g_config.conv_clamp == 256
    dev = torch.device(request.param)
    return (
        build_generator(ckpt, trainable=True).train().to(dev),
        build_discriminator(ckpt, trainable=True).to(dev),
    )


def _forward_backward(G, D, precision: str, seed: int) -> dict[str, torch.Tensor]:
    """Image, logits, G and D gradients of a G loss, and D's gradients of an R1 penalty."""
    set_precision(G, precision)
    set_precision(D, precision)
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(seed))
    z = z.to(next(G.parameters()).device)
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    img = G(z, noise_mode="const")
    logits = D(img)
    torch.nn.functional.softplus(-logits).sum().backward()
    out = {
        "img": img.detach(),
        "logits": logits.detach(),
        "G grads": torch.cat([p.grad.flatten() for p in G.parameters() if p.grad is not None]),
        "D grads": torch.cat([p.grad.flatten() for p in D.parameters() if p.grad is not None]),
    }
    real = img.detach().requires_grad_()
    (g,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    D.zero_grad(set_to_none=True)
    g.square().sum().backward()  # double backward through the reduced-precision blocks
    out["R1 grads"] = torch.cat([p.grad.flatten() for p in D.parameters() if p.grad is not None])
    for v in out.values():
        assert v.dtype == torch.float32  # what leaves the nets, and every gradient, is float32
    return {k: v.cpu() for k, v in out.items()}


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_forward_and_backward_match_fp32(nets, precision):
    G, D = nets
    for seed in range(3):
        ref = _forward_backward(G, D, "fp32", seed)
        got = _forward_backward(G, D, precision, seed)
        for name, want in ref.items():
            assert torch.isfinite(got[name]).all(), name
            err = ((got[name] - want).abs().max() / want.abs().max()).item()
            assert 0 < err < TOL[precision][name], f"{name}: {err:.2e}"  # it ran, and agrees


def test_fp16_blocks_match_nvidia_reference():
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny.pkl")
    exp = np.load(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny-expected.npz")
    G = set_precision(build_generator(ckpt), "fp16")
    D = set_precision(build_discriminator(ckpt), "fp16")
    z = torch.from_numpy(exp["z"]).float()
    with torch.no_grad():
        img = G(z, noise_mode="const")
        img32 = G(z, noise_mode="const", force_fp32=True)
        logits = D(torch.from_numpy(exp["img_psi1_const"]))
    assert img.dtype == torch.float32  # ToRGB output is always accumulated in fp32
    np.testing.assert_allclose(img32.numpy(), exp["img_psi1_const"], atol=1e-4)
    err = np.abs(img.numpy() - exp["img_psi1_const"]).max()
    assert 0 < err < 0.05 * np.abs(exp["img_psi1_const"]).max()  # fp16 really ran, and agrees
    np.testing.assert_allclose(logits.numpy(), exp["d_logits_of_img_psi1_const"], atol=0.05)


def _block_dtypes(G, D) -> tuple[dict, dict]:
    g_seen, d_seen = {}, {}
    hooks = [
        getattr(G.synthesis, f"b{r}").conv1.register_forward_hook(
            lambda m, i, o, r=r: g_seen.__setitem__(r, o.dtype)
        )
        for r in G.synthesis.block_resolutions
    ]
    hooks += [
        getattr(D, f"b{r}").conv0.register_forward_hook(
            lambda m, i, o, r=r: d_seen.__setitem__(r, o.dtype)
        )
        for r in D.block_resolutions
    ]
    with torch.no_grad():
        D(G(torch.randn(2, G.z_dim)))
    for h in hooks:
        h.remove()
    return g_seen, d_seen


@pytest.mark.parametrize(
    "precision,dtype",
    [
        ("fp16", torch.float16),
        ("bf16", torch.bfloat16),
        ("fp32", torch.float32),
        ("auto", torch.float32),
    ],
)
def test_reduced_precision_only_where_configured(precision, dtype):
    ckpt = import_checkpoint(FIXTURES / "nvlabs" / "sg3-stylegan2-tiny.pkl")
    G = set_precision(build_generator(ckpt), precision)
    D = set_precision(build_discriminator(ckpt), precision)
    g_seen, d_seen = _block_dtypes(G, D)
    assert g_seen == {4: torch.float32, 8: torch.float32, 16: dtype, 32: dtype}
    assert d_seen == {32: dtype, 16: dtype, 8: torch.float32}


def test_resolution_of_each_setting():
    cuda = torch.device("cuda")
    assert [resolve(p, CPU) for p in ("auto", "fp32", "fp16", "bf16")] == [
        "fp32",
        "fp32",
        "fp16",
        "bf16",
    ]
    assert resolve("auto", cuda) == "fp16" and reduced_dtype("auto", cuda) == torch.float16
    assert reduced_dtype("bf16", CPU) == torch.bfloat16
    with pytest.raises(ZiziError, match="precision must be one of"):
        resolve("fp8", CPU)
    check_supported("fp16", CPU)  # runs a tiny conv forward/backward in each dtype here
    check_supported("bf16", CPU)


def test_an_unsupported_dtype_is_one_line(monkeypatch):
    def no_half(*a, **k):
        raise RuntimeError("\"slow_conv2d_cpu\" not implemented for 'Half'\nmore")

    monkeypatch.setattr(torch.nn.functional, "conv2d", no_half)
    with pytest.raises(ZiziError, match=r"--precision fp16 is not supported on cpu .*use fp32"):
        check_supported("fp16", CPU)
