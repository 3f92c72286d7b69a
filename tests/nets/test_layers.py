"""Layer-level checks of the networks against naive definitions."""

import math

import pytest
import torch
import torch.nn.functional as F

from tests.helpers.tiny import tiny_nets
from zizi.config import GeneratorConfig
from zizi.nets.discriminator import Discriminator, MinibatchStdLayer
from zizi.nets.generator import Generator
from zizi.nets.layers import modulated_conv2d
from zizi.nets.resample import conv2d_resample
from zizi.ops.upfirdn2d import setup_filter


def _naive_up_conv(x, w, f):
    """By definition: zero-insert 2x, FIR with gain 4, true convolution with the 3x3 kernel."""
    n, c, h, wd = x.shape
    z = torch.zeros(n, c, 2 * h, 2 * wd, dtype=x.dtype)
    z[:, :, ::2, ::2] = x
    z = F.conv2d(
        F.pad(z, [3, 2, 3, 2]), (f * 4).flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c
    )
    return F.conv2d(z, w.flip([2, 3]))


@pytest.mark.parametrize("h", [4, 5, 8])
def test_upsampling_conv_matches_definition(h):
    torch.manual_seed(0)
    f = setup_filter().double()
    x = torch.randn(2, 3, h, h, dtype=torch.float64)
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    got = conv2d_resample(x, w, f, up=2, padding=1)
    assert got.shape == (2, 5, 2 * h, 2 * h)
    torch.testing.assert_close(got, _naive_up_conv(x, w, f), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 3])
def test_downsampling_conv_matches_definition(k):
    torch.manual_seed(0)
    f = setup_filter().double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = torch.randn(4, 3, k, k, dtype=torch.float64)
    got = conv2d_resample(x, w, f, down=2, padding=k // 2)
    # definition: blur with the 4x4 FIR, conv, keep every second pixel (odd phase)
    c = x.shape[1]
    blur = F.conv2d(F.pad(x, [2, 2, 2, 2]), f.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)
    ref = F.conv2d(blur, w, padding=k // 2)[:, :, 1::2, 1::2]
    assert got.shape == ref.shape == (2, 4, 4, 4)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)


def test_modulated_conv_fused_equals_unfused_and_definition():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 6, 6, dtype=torch.float64)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    s = torch.randn(3, 4, dtype=torch.float64)
    noise = torch.randn(3, 1, 6, 6, dtype=torch.float64)
    a = modulated_conv2d(x, w, s, noise, padding=1, fused=True)
    b = modulated_conv2d(x, w, s, noise, padding=1, fused=False)
    torch.testing.assert_close(a, b)
    for i in range(3):  # per sample: W' = W * s, demodulated per output channel
        wi = w * s[i].reshape(1, -1, 1, 1)
        wi = wi / (wi.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        torch.testing.assert_close(
            a[i : i + 1], F.conv2d(x[i : i + 1], wi, padding=1) + noise[i : i + 1]
        )


@pytest.mark.parametrize("res", [4, 8, 32, 64])
def test_generator_any_resolution(res):
    cfg = tiny_nets(res)[0]
    G = Generator(cfg).eval()
    assert G.num_ws == cfg.num_ws == 2 * int(math.log2(res)) - 2
    with torch.no_grad():
        img = G(torch.randn(2, cfg.z_dim))
    assert img.shape == (2, 3, res, res) and torch.isfinite(img).all()


def test_channels_follow_base_and_max():
    G = Generator(
        GeneratorConfig(z_dim=4, w_dim=4, img_resolution=64, channel_base=512, channel_max=32)
    )
    assert G.synthesis.b4.const.shape[0] == 32  # min(512 // 4, 32)
    assert G.synthesis.b32.conv1.weight.shape[0] == 16  # 512 // 32
    assert G.synthesis.b64.conv0.weight.shape[:2] == (8, 16)


def test_truncation_cutoff_only_touches_first_ws():
    torch.manual_seed(0)
    G = Generator(tiny_nets(16)[0]).eval()
    G.mapping.w_avg.normal_()
    z = torch.randn(3, 8)
    full = G.mapping(z)
    cut = G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, 2:], full[:, 2:])
    torch.testing.assert_close(cut[:, :2], G.mapping.w_avg.lerp(full[:, :2], 0.5))
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.0)[0, 0], G.mapping.w_avg)


def test_truncation_without_w_avg_is_refused():
    import dataclasses

    from zizi.config import MappingConfig

    cfg = dataclasses.replace(tiny_nets(8)[0], mapping=MappingConfig(num_layers=2, w_avg_beta=None))
    G = Generator(cfg)
    assert "mapping.w_avg" not in G.state_dict()
    G(torch.randn(1, 8))  # psi = 1 needs no average
    with pytest.raises(ValueError, match="no w_avg"):
        G(torch.randn(1, 8), truncation_psi=0.5)


def test_w_avg_tracks_mapping_output():
    G = Generator(tiny_nets(8)[0]).train()
    z = torch.randn(16, 8)
    ws = G.mapping(z, update_emas=True)
    torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].mean(0) * (1 - 0.995))


def test_conditional_generator_and_discriminator():
    torch.manual_seed(0)
    G = Generator(tiny_nets(16, c_dim=3)[0]).eval()
    D = Discriminator(tiny_nets(16, c_dim=3)[1]).eval()
    c = torch.eye(3)
    img = G(torch.randn(3, 8), c)
    logits = D(img, c)
    assert logits.shape == (3, 1)
    other = D(img, c.roll(1, dims=0))
    assert not torch.allclose(logits, other)  # the label changes the projection
    with pytest.raises(ValueError, match="conditional"):
        G(torch.randn(3, 8))


def test_minibatch_std_groups():
    torch.manual_seed(0)
    x = torch.randn(8, 4, 2, 2, dtype=torch.float64)
    y = MinibatchStdLayer(group_size=4)(x)
    assert y.shape == (8, 5, 2, 2)
    # sample i is in group i % 2; each group's std over its 4 members, averaged over C,H,W
    for grp in range(2):
        members = x[grp::2]
        std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(y[grp::2, 4], std.expand(4, 2, 2))
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdLayer(group_size=4)(torch.randn(6, 4, 2, 2))
    assert MinibatchStdLayer(group_size=4)(torch.randn(3, 4, 2, 2)).shape == (3, 5, 2, 2)


def test_bad_shapes_are_refused():
    G = Generator(tiny_nets(8)[0])
    with pytest.raises(ValueError, match="z must be"):
        G(torch.randn(2, 5))
    D = Discriminator(tiny_nets(8)[1])
    with pytest.raises(ValueError, match="images must be"):
        D(torch.randn(2, 3, 16, 16))
