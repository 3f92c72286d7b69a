"""ADA's augmentation pipeline and p controller (zizi.train.augment)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers.tiny import tiny_nets
from zizi.nets.discriminator import Discriminator
from zizi.train.augment import (
    ALL_OPS,
    COLOUR_OPS,
    GEOMETRIC_OPS,
    SYM6,
    AdaController,
    AugmentPipe,
    build_augment,
)

N, R = 8, 16


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(seed: int = 0) -> torch.Tensor:
    return torch.rand(N, 3, R, R, generator=_gen(seed)) * 2 - 1


def _blob(cx: float, cy: float, sigma: float = 2.0, size: int = 32) -> torch.Tensor:
    """A smooth (band-limited) Gaussian spot centred at pixel coordinates (cx, cy)."""
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    spot = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return spot.expand(1, 3, size, size).contiguous()


def _moments(img: torch.Tensor) -> tuple[float, float, float]:
    """Centre of mass (x, y) and spread (RMS radius) of channel 0, in pixel coordinates."""
    a = img[0, 0].clamp(min=0)
    size = a.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    m = a.sum()
    cx, cy = float((a * xx).sum() / m), float((a * yy).sum() / m)
    spread = float(((a * ((xx - cx) ** 2 + (yy - cy) ** 2)).sum() / m).sqrt())
    return cx, cy, spread


# --------------------------------------------------------------------------- identity / change


@pytest.mark.parametrize("op", ALL_OPS)
def test_each_op_at_p0_is_identity_and_at_p1_changes_the_image(op):
    x = _images()
    pipe = AugmentPipe(**{op: 1.0}, p=0.0)
    assert torch.equal(pipe(x, _gen(1)), x)
    pipe.p.fill_(1.0)
    y = pipe(x, _gen(1))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y - x).abs().amax(dim=(1, 2, 3)).max() > 0.05, f"{op} at p=1 left every image unchanged"


def test_full_pipeline_at_p0_is_identity_and_p_sets_the_rate():
    x = torch.zeros(400, 3, 8, 8) + torch.linspace(-1, 1, 8)  # a ramp, so flips show
    pipe = AugmentPipe.preset("bgc", p=0.0)
    assert torch.equal(pipe(x, _gen()), x)
    # With only x-flip at p = 0.5, a sample flips with probability p·1/2 (i ~ U{0, 1}).
    flip = AugmentPipe(xflip=1.0, p=0.5)
    changed = ((flip(x, _gen(3)) - x).abs().amax(dim=(1, 2, 3)) > 0.5).float().mean().item()
    assert abs(changed - 0.25) < 0.07


def test_sym6_is_an_orthonormal_wavelet_with_six_vanishing_moments():
    h = torch.tensor(SYM6, dtype=torch.float64)
    assert h.sum().item() == pytest.approx(math.sqrt(2), abs=1e-12)
    for shift in range(len(SYM6) // 2):
        want = 1.0 if shift == 0 else 0.0
        assert (h[: len(h) - 2 * shift] * h[2 * shift :]).sum().item() == pytest.approx(
            want, abs=1e-9
        )
    highpass = h.flip(0) * (-1.0) ** torch.arange(len(h))
    k = torch.arange(len(h), dtype=torch.float64)
    for m in range(6):
        assert (highpass * k**m).sum().item() == pytest.approx(0.0, abs=1e-6 * 12**m)


def test_resampling_with_the_identity_matrix_is_the_identity():
    # Wavelet up, sample on the grid, wavelet down: exact up to float rounding, borders too.
    x = _images()
    pipe = AugmentPipe.preset("bgc")
    y = pipe.resample(x, torch.eye(3).repeat(N, 1, 1))
    torch.testing.assert_close(y, x, atol=1e-4, rtol=0)


# --------------------------------------------------------------------------- geometry


# S2A's resampling (which zizi follows: closer to the exact transform, benchmarks/RESULTS.md)
# leaves sym6's delay uncompensated: a mirrored or turned pattern lands ~0.025 px off.
BLIT_TOL = 0.03


def test_xflip_mirrors_a_pattern_left_to_right():
    x = _blob(9.0, 12.0).repeat(N, 1, 1, 1)
    y = AugmentPipe(xflip=1.0, p=1.0)(x, _gen(0))
    flipped = [bool((yi - xi.flip(-1)).abs().max() < BLIT_TOL) for xi, yi in zip(x, y)]
    kept = [bool((yi - xi).abs().max() < 1e-4) for xi, yi in zip(x, y)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)
    for yi, f in zip(y, flipped):
        if f:  # the spot's centre mirrors: x -> 32 - x (0.1 px off: the uncompensated delay)
            cx, cy, _ = _moments(yi[None])
            assert cx == pytest.approx(23.0, abs=0.15) and cy == pytest.approx(12.0, abs=0.05)


def test_rotate90_turns_a_pattern_by_quarter_turns():
    x = _blob(9.0, 12.0).repeat(N, 1, 1, 1)
    y = AugmentPipe(rotate90=1.0, p=1.0)(x, _gen(0))
    seen = set()
    for xi, yi in zip(x, y):
        errors = [float((yi - torch.rot90(xi, k, dims=(1, 2))).abs().max()) for k in range(4)]
        k = min(range(4), key=errors.__getitem__)
        assert errors[k] < BLIT_TOL
        seen.add(k)
    assert len(seen) >= 3


def test_integer_translation_moves_a_single_pixel_by_whole_pixels():
    x = torch.zeros(N, 3, R, R)
    x[:, :, 7, 8] = 1.0
    y = AugmentPipe(xint=1.0, p=1.0)(x, _gen(0))
    moved = 0
    for yi in y:
        row, col = divmod(int(yi[0].argmax()), R)
        dy, dx = row - 7, col - 8
        assert abs(dx) <= round(0.125 * R) and abs(dy) <= round(0.125 * R)
        want = torch.zeros(3, R, R)
        want[:, row, col] = 1.0
        torch.testing.assert_close(yi, want, atol=1e-4, rtol=0)  # a pure move, nothing blurred
        moved += (dx, dy) != (0, 0)
    assert moved >= N // 2


def test_matrices_move_a_pattern_where_the_maths_says():
    pipe = AugmentPipe.preset("bgc")
    x = _blob(16.0, 16.0, sigma=2.5)
    cx0, cy0, r0 = _moments(x)

    def run(m):
        return _moments(pipe.resample(x, torch.tensor(m, dtype=torch.float32)[None]))

    # Sampling matrix = inverse of the content's motion: content moved by (+2.5, -1.25).
    cx, cy, r = run([[1, 0, -2.5], [0, 1, 1.25], [0, 0, 1]])
    assert (cx - cx0, cy - cy0) == (pytest.approx(2.5, abs=0.02), pytest.approx(-1.25, abs=0.02))
    assert r == pytest.approx(r0, rel=0.02)
    # Content scaled up 1.5× about the centre: the spot stays put and grows by 1.5.
    cx, cy, r = run([[1 / 1.5, 0, 0], [0, 1 / 1.5, 0], [0, 0, 1]])
    assert (cx, cy) == (pytest.approx(cx0, abs=BLIT_TOL), pytest.approx(cy0, abs=BLIT_TOL))
    assert r == pytest.approx(1.5 * r0, rel=0.03)
    # An off-centre spot rotated 30° about the image centre lands on the rotated position.
    spot = _blob(22.0, 16.0, sigma=2.0)
    t = math.radians(30)
    rot = [[math.cos(t), math.sin(t), 0], [-math.sin(t), math.cos(t), 0], [0, 0, 1]]  # inverse
    cx, cy, _ = _moments(pipe.resample(spot, torch.tensor(rot, dtype=torch.float32)[None]))
    assert cx == pytest.approx(16 + 6 * math.cos(t), abs=0.05)
    assert cy == pytest.approx(16 + 6 * math.sin(t), abs=0.05)


def test_reflect_padding_fills_the_borders_uncovered_by_a_shift():
    # Content moved right by 3 px: the left 3 columns are the mirror of the old left border.
    x = _images()
    pipe = AugmentPipe.preset("bgc")
    g = torch.eye(3).repeat(N, 1, 1)
    g[:, 0, 2] = -3.0
    y = pipe.resample(x, g)
    torch.testing.assert_close(y[..., 3:], x[..., :-3], atol=1e-4, rtol=0)
    torch.testing.assert_close(y[..., :3], x[..., 1:4].flip(-1), atol=1e-4, rtol=0)


def test_forward_applies_the_drawn_matrices():
    x = _images()
    pipe = AugmentPipe.preset("bg", p=0.7)
    g = pipe.geometric_matrix(x, _gen(5))
    torch.testing.assert_close(pipe(x, _gen(5)), pipe.resample(x, g))
    # Every drawn matrix keeps the homogeneous row, and the blits and scalings stay invertible.
    torch.testing.assert_close(g[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand(N, 3))
    assert (torch.linalg.det(g[:, :2, :2]).abs() > 0).all()


# --------------------------------------------------------------------------- colour


def _grey(seed: int = 0) -> torch.Tensor:
    return (torch.rand(N, 1, R, R, generator=_gen(seed)) * 2 - 1).repeat(1, 3, 1, 1)


def test_brightness_adds_the_same_offset_to_every_pixel():
    x = _images()
    y = AugmentPipe(brightness=1.0, p=1.0)(x, _gen(0))
    d = y - x
    torch.testing.assert_close(d, d[:, :1, :1, :1].expand_as(d), atol=1e-5, rtol=0)
    assert d[:, 0, 0, 0].std() == pytest.approx(0.2, rel=0.6)


def test_contrast_scales_about_mid_grey():
    x = _images()
    y = AugmentPipe(contrast=1.0, p=1.0)(x, _gen(0))
    c = (y * x).sum(dim=(1, 2, 3)) / (x * x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(y, x * c[:, None, None, None], atol=1e-5, rtol=0)
    assert (c > 0).all()


def test_luma_flip_negates_grey_and_keeps_chroma():
    x = _grey()
    y = AugmentPipe(lumaflip=1.0, p=1.0)(x, _gen(0))
    flips = [bool(torch.allclose(yi, -xi, atol=1e-5)) for xi, yi in zip(x, y)]
    keeps = [bool(torch.allclose(yi, xi, atol=1e-5)) for xi, yi in zip(x, y)]
    assert all(f or k for f, k in zip(flips, keeps)) and any(flips) and any(keeps)
    # On colour, the flip only touches the luma component: r-g differences survive.
    c = _images()
    yc = AugmentPipe(lumaflip=1.0, p=1.0)(c, _gen(0))
    torch.testing.assert_close(yc[:, 0] - yc[:, 1], c[:, 0] - c[:, 1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("op", ["hue", "saturation"])
def test_hue_and_saturation_keep_grey_and_luma(op):
    pipe = AugmentPipe(**{op: 1.0}, p=1.0)
    x = _grey()
    torch.testing.assert_close(pipe(x, _gen(0)), x, atol=1e-5, rtol=0)
    c = _images()
    y = pipe(c, _gen(0))
    torch.testing.assert_close(y.mean(dim=1), c.mean(dim=1), atol=1e-5, rtol=0)
    assert (y - c).abs().max() > 0.1


def test_hue_rotation_by_a_third_turn_permutes_the_channels():
    from zizi.train.augment import _luma_axis, _rotate_about

    m = _rotate_about(_luma_axis(torch.device("cpu")), torch.tensor([2 * math.pi / 3]))
    x = _images()[:1]
    y = AugmentPipe.apply_colour(x, m)
    torch.testing.assert_close(y, x[:, [2, 0, 1]], atol=1e-5, rtol=0)


def test_grey_single_channel_images_are_supported():
    x = torch.rand(N, 1, R, R, generator=_gen()) * 2 - 1
    y = AugmentPipe.preset("c", p=1.0)(x, _gen(0))
    assert y.shape == x.shape and not torch.equal(y, x)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        AugmentPipe.preset("c", p=1.0)(torch.zeros(2, 4, R, R), _gen(0))


# --------------------------------------------------------------------------- gradients


def test_gradients_and_r1_double_backward_flow_through_the_whole_pipeline():
    torch.manual_seed(0)
    d = Discriminator(tiny_nets(R)[1]).train().requires_grad_(True)
    pipe = AugmentPipe.preset("bgc", p=1.0)
    reals = _images().requires_grad_(True)
    logits = d(pipe(reals, _gen(0)))
    (r1_grads,) = torch.autograd.grad(logits.sum(), [reals], create_graph=True)
    assert torch.isfinite(r1_grads).all() and r1_grads.abs().sum() > 0
    penalty = r1_grads.square().sum(dim=(1, 2, 3)).mean()
    penalty.backward()
    grads = [p.grad for p in d.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # The pipe is linear in the images for fixed draws: its vector-Jacobian product is the
    # adjoint of its forward, <A x, v> = <x, Aᵀ v>.
    x = _images(1).requires_grad_(True)
    v = _images(2)
    y = pipe(x, _gen(7))
    (atv,) = torch.autograd.grad(y, [x], v)
    bias = pipe(torch.zeros_like(x), _gen(7))
    lhs = float(((y - bias) * v).sum().detach())
    assert lhs == pytest.approx(float((x * atv).sum().detach()), rel=1e-4)


# --------------------------------------------------------------------------- controller


def test_p_update_follows_the_formula():
    pipe = AugmentPipe.preset("bgc")
    ctrl = AdaController(pipe, target=0.6, adjust_kimg=500, interval=4)
    batch = 8
    for _ in range(ctrl.interval):  # all reals called real: r_t = 1 > 0.6, p goes up
        ctrl.accumulate(torch.full((batch, 1), 3.0))
    rt = ctrl.update(batch * ctrl.interval)
    assert rt == 1.0
    step = batch * ctrl.interval / (500 * 1000)
    assert ctrl.p == pytest.approx(step)
    for _ in range(2):  # two more rising updates
        for _ in range(ctrl.interval):
            ctrl.accumulate(torch.tensor([[1.0], [2.0], [-1.0], [4.0]]).repeat(2, 1))  # r_t = 0.5
        ctrl.update(batch * ctrl.interval)
    assert ctrl.last_rt == pytest.approx(0.5)
    assert ctrl.p == pytest.approx(0.0, abs=1e-12)  # 0.5 < 0.6: it fell back, clamped at 0
    ctrl.accumulate(torch.tensor([[1.0], [1.0], [1.0], [-1.0], [0.0]]))  # r_t = 0.4
    ctrl.update(5)
    assert ctrl.p == 0.0  # never negative
    pipe.p.fill_(0.5)
    ctrl.accumulate(torch.tensor([[1.0], [1.0], [1.0], [1.0], [-1.0]]))  # r_t = 0.6 = target
    ctrl.update(5)
    assert ctrl.p == 0.5
    assert ctrl.update(5) is None  # nothing accumulated: no change
    assert [ctrl.due(s) for s in range(1, 9)] == [False, False, False, True] * 2


def test_p_rises_at_the_published_rate():
    # From 0 to 1 in adjust_kimg thousand images while D keeps overfitting.
    pipe = AugmentPipe.preset("bgc")
    ctrl = AdaController(pipe, target=0.6, adjust_kimg=0.5, interval=4)
    for _ in range(500 // 32):
        for _ in range(4):
            ctrl.accumulate(torch.ones(8, 1))
        ctrl.update(32)
    assert ctrl.p == pytest.approx((500 // 32) * 32 / 500)


def test_fixed_mode_keeps_p_and_off_mode_has_no_pipe():
    pipe, ctrl = build_augment("fixed", p=0.3)
    ctrl.accumulate(torch.ones(4, 1))
    assert ctrl.update(4) == 1.0
    assert ctrl.p == pytest.approx(0.3)
    assert build_augment("off") == (None, None)
    pipe, ctrl = build_augment("ada", preset="bg")
    assert pipe.weights["hue"] == 0 and pipe.weights["xflip"] == 1 and ctrl.target == 0.6
    with pytest.raises(ValueError, match="preset"):
        build_augment("ada", preset="bgcfnc")
    with pytest.raises(ValueError, match="mode"):
        build_augment("sometimes")


def test_state_dict_round_trip_keeps_p_and_the_unfinished_accumulation():
    pipe = AugmentPipe.preset("bgc", p=0.25)
    ctrl = AdaController(pipe, target=0.6, adjust_kimg=0.1, interval=4)
    ctrl.accumulate(torch.tensor([[1.0], [1.0], [-1.0]]))
    state = ctrl.state_dict()
    import json

    state = json.loads(json.dumps(state))  # it goes into a JSON header
    pipe2 = AugmentPipe.preset("bgc")
    ctrl2 = AdaController(pipe2, target=0.6, adjust_kimg=0.1, interval=4)
    ctrl2.load_state_dict(state)
    assert ctrl2.p == 0.25
    ctrl.accumulate(torch.tensor([[1.0]]))
    ctrl2.accumulate(torch.tensor([[1.0]]))
    assert ctrl.update(16) == ctrl2.update(16) == pytest.approx(0.5)
    assert ctrl.p == ctrl2.p == pytest.approx(0.25 - 0.16)
    # p lives in the pipe's buffers too, so a module state dict carries it.
    assert float(AugmentPipe.preset("bgc", p=0.4).state_dict()["p"]) == pytest.approx(0.4)


def test_every_op_name_is_in_a_preset_and_geometric_and_colour_split():
    assert set(GEOMETRIC_OPS) | set(COLOUR_OPS) == set(ALL_OPS)
    assert AugmentPipe.preset("bgc").weights == {op: 1.0 for op in ALL_OPS}
    with pytest.raises(ValueError, match=">= 0"):
        AugmentPipe(xflip=-1.0)


def test_rotations_turn_the_way_s2a_turns_for_the_same_draw():
    # S2A (training/augment.py) multiplies its sampling matrix by rotate2d_inv(-angle) =
    # rotate2d(+angle), rotate2d = [[cos, -sin], [sin, cos]]: for a replayed draw the matrix
    # must be that rotation, for quarter turns and for arbitrary angles alike.
    def rot(a: torch.Tensor) -> torch.Tensor:
        m = torch.eye(3).repeat(len(a), 1, 1)
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
        return m

    x = _images()
    g = AugmentPipe(rotate90=1.0, p=0.8).geometric_matrix(x, _gen(3))
    replay = _gen(3)
    k = torch.floor(torch.rand(N, generator=replay) * 4)
    k = torch.where(torch.rand(N, generator=replay) < 0.8, k, 0)
    assert k.unique().numel() >= 3
    torch.testing.assert_close(g, rot(math.pi / 2 * k), atol=1e-6, rtol=0)

    g = AugmentPipe(rotate=1.0, p=0.8).geometric_matrix(x, _gen(4))
    replay = _gen(4)
    p_rot = 1 - math.sqrt(1 - 0.8)
    want = torch.eye(3).repeat(N, 1, 1)
    for _ in range(2):  # before and after the (absent) anisotropic scaling
        theta = (torch.rand(N, generator=replay) * 2 - 1) * math.pi
        theta = torch.where(torch.rand(N, generator=replay) < p_rot, theta, 0)
        want = want @ rot(theta)
    torch.testing.assert_close(g, want, atol=1e-5, rtol=0)
