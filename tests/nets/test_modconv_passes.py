"""modulated_conv2d and the layers that end in bias_act: fewer passes, same maths.

The demodulation coefficients come from a matmul, never from the per-sample weight tensor;
a layer whose activation is positively homogeneous folds its gain and bias into passes it
makes anyway. Both must give what the definition gives (float64, to 1e-12) and gradients to
second order (R1 and path length differentiate twice).
"""

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import zizi.nets.layers as layers
from zizi.nets.layers import (
    Conv2dLayer,
    SynthesisLayer,
    demodulation_coefficients,
    modulated_conv2d,
)

TOL = dict(rtol=1e-12, atol=1e-12)


class _Shapes(TorchDispatchMode):
    """Records the shape of every new tensor an aten op returns (views are left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        seen = {
            a.untyped_storage().data_ptr()
            for a in [*args, *(kwargs or {}).values()]
            if isinstance(a, torch.Tensor)
        }
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen:
                self.shapes.append(tuple(t.shape))
        return out


def test_demodulation_coefficients_match_definition():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64, generator=g)
    s = torch.randn(3, 4, dtype=torch.float64, generator=g)
    naive = (w.unsqueeze(0) * s.reshape(3, 1, 4, 1, 1)).square().sum(dim=[2, 3, 4])
    torch.testing.assert_close(demodulation_coefficients(w, s), (naive + 1e-8).rsqrt(), **TOL)
    # float32: only the order of the additions differs
    d32 = demodulation_coefficients(w.float(), s.float()).double()
    torch.testing.assert_close(d32, (naive + 1e-8).rsqrt(), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "fused,up,allowed", [(False, 1, 0), (False, 2, 0), (True, 1, 1), (True, 2, 2)]
)
def test_per_sample_weights_built_at_most_once(fused, up, allowed):
    """Unfused (training) never builds [N, C_out, C_in, k, k], forward or backward; the fused
    forward builds it once (the old code built, squared and rescaled it), plus the transposed
    copy that the upsampling (transposed, grouped) conv needs."""
    n, cin, cout = 3, 4, 5
    x = torch.randn(n, cin, 6, 6, requires_grad=True)
    w = torch.randn(cout, cin, 3, 3, requires_grad=True)
    s = torch.randn(n, cin, requires_grad=True)
    from zizi.ops.upfirdn2d import setup_filter

    with _Shapes() as rec:
        y = modulated_conv2d(
            x,
            w,
            s,
            torch.randn(n, 1, 6 * up, 6 * up),
            up=up,
            padding=1,
            resample_filter=setup_filter(),
            fused=fused,
            gain=1.5,
            bias=torch.randn(cout),
        )
        if not fused:  # the fused path is for inference: its backward is not counted
            y.square().sum().backward()
    big = [sh for sh in rec.shapes if sh == (n, cout, cin, 3, 3)]
    assert len(big) <= allowed, rec.shapes


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("demodulate", [False, True])
def test_gain_and_bias_fold_into_modconv(fused, demodulate):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 6, 6, dtype=torch.float64, generator=g)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64, generator=g)
    s = torch.randn(3, 4, dtype=torch.float64, generator=g)
    noise = torch.randn(3, 1, 6, 6, dtype=torch.float64, generator=g)
    b = torch.randn(5, dtype=torch.float64, generator=g)
    kw = dict(padding=1, fused=fused, demodulate=demodulate)
    plain = modulated_conv2d(x, w, s, noise, **kw)
    got = modulated_conv2d(x, w, s, noise, gain=1.7, bias=b, **kw)
    torch.testing.assert_close(got, 1.7 * plain + b.reshape(1, -1, 1, 1), **TOL)
    got = modulated_conv2d(x, w, s, None, gain=0.5, bias=b, **kw)
    torch.testing.assert_close(
        got, 0.5 * modulated_conv2d(x, w, s, **kw) + b.reshape(1, -1, 1, 1), **TOL
    )


def _grads_to_second_order(layer, run, inputs):
    """Output, first-order grads (kept in the graph) and the grads of their squared sum."""
    out = run()
    g1 = torch.autograd.grad(
        out.square().sum(), inputs + list(layer.parameters()), create_graph=True
    )
    g2 = torch.autograd.grad(sum(g.square().sum() for g in g1[: len(inputs)]), inputs)
    return [out, *g1, *g2]


@pytest.mark.parametrize("clamp", [None, 0.5])
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("up", [1, 2])
def test_synthesis_layer_folded_equals_unfolded(monkeypatch, clamp, fused, up):
    """The folded path (no kernel) against bias_act with bias and gain (the kernel's path)."""
    torch.manual_seed(0)
    layer = SynthesisLayer(4, 5, 6, resolution=8 if up == 2 else 4, up=up, conv_clamp=clamp)
    layer = layer.double()
    with torch.no_grad():
        layer.bias.normal_()
        layer.noise_strength.fill_(0.3)
    x = torch.randn(2, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    wl = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)

    def run():
        return layer(x, wl, noise_mode="const", fused=fused, gain=0.8)

    folded = _grads_to_second_order(layer, run, [x, wl])
    monkeypatch.setattr(layers, "uses_kernel", lambda t: True)  # bias_act still runs the ref
    plain = _grads_to_second_order(layer, run, [x, wl])
    for a, b in zip(folded, plain, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    if clamp is not None:
        assert folded[0].abs().max() <= clamp * 0.8 + 1e-12


@pytest.mark.parametrize("clamp", [None, 0.5])
@pytest.mark.parametrize(
    "up,down,k,bias", [(1, 1, 3, True), (2, 1, 3, True), (1, 2, 3, True), (1, 2, 1, False)]
)
def test_conv2d_layer_folded_equals_unfolded(monkeypatch, clamp, up, down, k, bias):
    torch.manual_seed(0)
    layer = Conv2dLayer(
        4, 5, k, bias=bias, activation="lrelu", up=up, down=down, conv_clamp=clamp
    ).double()
    if bias:
        with torch.no_grad():
            layer.bias.normal_()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    folded = _grads_to_second_order(layer, lambda: layer(x, gain=0.7), [x])
    monkeypatch.setattr(layers, "uses_kernel", lambda t: True)
    plain = _grads_to_second_order(layer, lambda: layer(x, gain=0.7), [x])
    for a, b in zip(folded, plain, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    # and the definition, written out
    w = layer.weight * layer.weight_gain
    ref = (
        F.leaky_relu(F.conv2d(x, w, layer.bias, padding=k // 2), 0.2) * (2**0.5 * 0.7)
        if up == down == 1
        else None
    )
    if ref is not None:
        ref = ref.clamp(-clamp * 0.7, clamp * 0.7) if clamp is not None else ref
        torch.testing.assert_close(folded[0], ref, **TOL)


@pytest.mark.parametrize("act", ["lrelu", "linear", "relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lr", [1.0, 0.01])  # 0.01: the mapping network's layers
def test_fully_connected_folded_equals_unfolded(monkeypatch, act, bias, lr):
    """The mapping network's and D's dense layers: gain and bias inside the matmul."""
    torch.manual_seed(0)
    layer = layers.FullyConnectedLayer(
        6, 5, bias=bias, activation=act, lr_multiplier=lr, bias_init=0.5
    ).double()
    if bias:
        with torch.no_grad():
            layer.bias.normal_()
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    folded = _grads_to_second_order(layer, lambda: layer(x), [x])
    monkeypatch.setattr(layers, "uses_kernel", lambda t: True)
    plain = _grads_to_second_order(layer, lambda: layer(x), [x])
    for a, b in zip(folded, plain, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    # the definition: act(x·W·gain_w + b·gain_b)·gain_act
    y = x @ (layer.weight * layer.weight_gain).t()
    if bias:
        y = y + layer.bias * layer.bias_gain
    y = {
        "lrelu": lambda t: F.leaky_relu(t, 0.2) * 2**0.5,
        "relu": lambda t: F.relu(t) * 2**0.5,
        "linear": lambda t: t,
    }[act](y)
    torch.testing.assert_close(folded[0], y, **TOL)


def test_fully_connected_fold_saves_passes():
    """Without the kernel, lrelu + bias costs the matmul (with its bias) and one more pass."""
    layer = layers.FullyConnectedLayer(64, 32, activation="lrelu")
    x = torch.randn(8, 64)
    with _Shapes() as seen:
        layer(x)
    assert seen.shapes.count((8, 32)) == 2  # addmm, leaky_relu (was: mm, add, lrelu, mul)


def test_grouped_modconv_only_where_it_is_faster():
    """Inference on the CPU with several samples scales activations (1.2-2.2x faster than
    MKL-DNN's grouped conv); a GPU, or one sample, keeps the grouped conv; training never."""
    from zizi.nets.generator import use_fused_modconv

    cpu, cuda, f32, f16 = torch.device("cpu"), torch.device("cuda"), torch.float32, torch.float16
    assert not use_fused_modconv(False, f32, 8, cpu)
    assert use_fused_modconv(False, f32, 1, cpu)
    assert use_fused_modconv(False, f32, 8, cuda)
    assert use_fused_modconv(False, f16, 1, cuda) and not use_fused_modconv(False, f16, 8, cuda)
    assert not use_fused_modconv(True, f32, 1, cpu) and not use_fused_modconv(True, f32, 8, cuda)


def test_cpu_inference_batch_matches_the_grouped_path():
    """The same images both ways (eval, batch 4, CPU), to float rounding."""
    from zizi.config import GeneratorConfig, MappingConfig
    from zizi.nets import generator

    torch.manual_seed(0)
    G = generator.Generator(
        GeneratorConfig(
            z_dim=8,
            w_dim=8,
            img_resolution=16,
            channel_base=128,
            channel_max=16,
            mapping=MappingConfig(num_layers=2),
        )
    ).eval()
    z = torch.randn(4, 8)
    with torch.no_grad():
        shared = G(z, noise_mode="const")
        grouped_fn = generator.use_fused_modconv
        try:
            generator.use_fused_modconv = lambda *a: True
            grouped = G(z, noise_mode="const")
        finally:
            generator.use_fused_modconv = grouped_fn
    torch.testing.assert_close(shared, grouped, rtol=0, atol=1e-5 * grouped.abs().max().item())
