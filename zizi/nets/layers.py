"""Equalised-learning-rate layers and the modulated convolution of StyleGAN2.

Equalised learning rate (Karras et al. 2018): weights are stored as N(0, 1) / lr_multiplier
and scaled at run time by lr_multiplier / sqrt(fan_in), so every layer learns at the same
speed under Adam. Modulation/demodulation (Karras et al. 2020, §2.2) replaces AdaIN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zizi.nets.resample import conv2d_resample
from zizi.ops.bias_act import bias_act, resolve, uses_kernel
from zizi.ops.upfirdn2d import setup_filter

# Activations with act(g·x) = g·act(x) for g > 0: their gain can move before them.
HOMOGENEOUS = ("linear", "relu", "lrelu")


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit RMS (the pixel norm applied to z)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalised learning rate and a fused bias + activation."""

    def __init__(
        self,
        in_features: int,  # input width
        out_features: int,  # output width
        bias: bool = True,  # add a learned bias
        activation: str = "linear",  # see zizi.ops.bias_act.ACTIVATIONS
        lr_multiplier: float = 1.0,  # 0.01 in the mapping network
        bias_init: float = 0.0,  # 1 for style affines so styles start near identity
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.act_gain = resolve(activation, None, None)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation in HOMOGENEOUS and not uses_kernel(x):
            # Without the fused kernel, bias, activation and gain are a pass each: the gain
            # goes into the (small) weights and bias, the bias into the matmul (addmm).
            w = self.weight.to(x.dtype) * (self.weight_gain * self.act_gain)
            if self.bias is None:
                return bias_act(x.matmul(w.t()), None, act=self.activation, gain=1.0)
            b = self.bias.to(x.dtype) * (self.bias_gain * self.act_gain)
            return bias_act(
                torch.addmm(b.unsqueeze(0), x, w.t()), None, act=self.activation, gain=1.0
            )
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, act={self.activation}"


class Conv2dLayer(nn.Module):
    """Conv with equalised learning rate, optional FIR up/downsampling, bias, act and clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,  # 2 = upsample with the FIR
        down: int = 1,  # 2 = downsample with the FIR
        resample_taps: tuple[int, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,  # clamp outputs to ±conv_clamp·gain
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = resolve(activation, None, None)[1]
        self.register_buffer("resample_filter", setup_filter(resample_taps), persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        if self.activation in HOMOGENEOUS and not uses_kernel(x):
            # Without the fused kernel every step of bias_act is a pass over the output:
            # the gain goes into the (small) weights and the bias into the conv.
            w = self.weight.to(x.dtype) * (self.weight_gain * act_gain)
            x = conv2d_resample(
                x,
                w,
                self.resample_filter,
                up=self.up,
                down=self.down,
                padding=self.padding,
                bias=b * act_gain if b is not None else None,
            )
            return bias_act(x, None, act=self.activation, gain=1.0, clamp=act_clamp)
        w = self.weight.to(x.dtype) * self.weight_gain
        x = conv2d_resample(
            x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding
        )
        return bias_act(x, b, act=self.activation, gain=act_gain, clamp=act_clamp)

    def extra_repr(self) -> str:
        return (
            f"in={self.in_channels}, out={self.out_channels}, act={self.activation}, "
            f"up={self.up}, down={self.down}, clamp={self.conv_clamp}"
        )


def demodulation_coefficients(
    weight: torch.Tensor,  # [C_out, C_in, kh, kw]
    styles: torch.Tensor,  # [N, C_in]
    eps: float = 1e-8,
) -> torch.Tensor:
    """1 / ||s ⊙ W_o|| per sample and output channel, [N, C_out], by one small matmul.

    Σ_ik (s_i·W_oik)² = Σ_i s_i² · Σ_k W_oik², so the coefficients are
    rsqrt(s² @ (Σ_k W²)ᵀ + eps) and the per-sample weight tensor [N, C_out, C_in, kh, kw]
    (about 300 MB per 512-channel layer at batch 32) is never built just to be squared and
    summed. Only the order of the float additions differs from the definition.
    """
    wsq = weight.square().sum(dim=[2, 3])  # [C_out, C_in]
    return (styles.square() @ wsq.t() + eps).rsqrt()  # [N, C_out]


def modulated_conv2d(
    x: torch.Tensor,  # [N, C_in, H, W]
    weight: torch.Tensor,  # [C_out, C_in, kh, kw], raw (demodulation cancels the eq-lr scale)
    styles: torch.Tensor,  # [N, C_in]
    noise: torch.Tensor | None = None,  # broadcastable to the output
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    fused: bool = True,  # grouped conv with per-sample weights; else scale activations
    gain: float = 1.0,  # > 0, multiplies the output (noise included) at no extra pass
    bias: torch.Tensor | None = None,  # [C_out], added after the gain (not scaled by it)
) -> torch.Tensor:
    """StyleGAN2's modulated convolution: W'_ijk = s_i·W_ijk, demodulated per output channel.

    Returns `gain · (conv(x, W') + noise) + bias`. The gain rides on the per-channel
    scale and the bias on the pass that adds the noise, so a layer that ends in a positively
    homogeneous activation (lrelu) can hand its gain and bias here and skip two passes
    over its activations.
    """
    n = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape

    # In fp16 the raw weights and styles can overflow; pre-scaling by their max is exact
    # after demodulation (a per-output-channel scale cancels).
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (
            1
            / math.sqrt(in_channels * kh * kw)
            / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    # Per-sample, per-output-channel scale applied after the conv: [N, C_out] or None.
    scale = demodulation_coefficients(weight, styles) if demodulate else None
    if gain != 1:
        scale = scale * gain if scale is not None else None
    if noise is not None:
        noise = noise.to(x.dtype)
        if gain != 1:
            noise = noise * gain  # [N or 1, 1, H, W]: small beside the activations
    b = bias.to(x.dtype).reshape(1, -1, 1, 1) if bias is not None else None

    if not fused:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding)
        if scale is None and gain != 1:
            scale = torch.full([1, 1], gain, dtype=x.dtype, device=x.device)
        return _scale_add(x, scale, noise, b)

    # The per-channel scale goes into the [N, C_out, C_in] factor, so the big per-sample
    # weight tensor is written once.
    factor = styles.reshape(n, 1, in_channels)  # [N, 1, C_in]
    if scale is not None:
        factor = factor * scale.reshape(n, out_channels, 1)  # [N, C_out, C_in]
    elif gain != 1:
        factor = factor * gain
    w = weight.unsqueeze(0) * factor.unsqueeze(-1).unsqueeze(-1)  # [N, C_out, C_in, kh, kw]
    x = x.reshape(1, -1, *x.shape[2:])  # [1, N*C_in, H, W]
    w = w.reshape(-1, in_channels, kh, kw)  # [N*C_out, C_in, kh, kw]
    x = conv2d_resample(x, w.to(x.dtype), resample_filter, up=up, padding=padding, groups=n)
    x = x.reshape(n, -1, *x.shape[2:])  # [N, C_out, H', W']
    return _scale_add(x, None, noise, b)


def _scale_add(
    x: torch.Tensor,  # [N, C, H, W]
    scale: torch.Tensor | None,  # [N or 1, C or 1]
    noise: torch.Tensor | None,  # broadcastable to x
    bias: torch.Tensor | None,  # [1, C, 1, 1]
) -> torch.Tensor:
    """x·scale + noise + bias in as few passes over x as autograd allows.

    The per-channel tensors are summed first when both are small; the scale and the first
    addend share one addcmul, and the second addend is added in place into that fresh
    result (autograd saves addcmul's inputs, never its output, so this is safe).
    """
    if scale is not None:
        s = scale.to(x.dtype).reshape(*scale.shape, 1, 1)
        first, second = (noise, bias) if noise is not None else (bias, None)
        x = torch.addcmul(first, x, s) if first is not None else x * s
        return x.add_(second) if second is not None else x
    if noise is not None:
        x = x + noise
        return x.add_(bias) if bias is not None else x
    return x + bias if bias is not None else x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv + per-pixel noise + bias + lrelu, optionally upsampling 2x."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,  # output resolution (noise map size)
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_taps: tuple[int, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = resolve(activation, None, None)[1]
        self.register_buffer("resample_filter", setup_filter(resample_taps), persistent=False)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,  # [N, w_dim]
        noise_mode: str = "random",
        fused: bool = True,
        gain: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = (
                torch.randn(
                    [x.shape[0], 1, self.resolution, self.resolution],
                    device=x.device,
                    dtype=torch.float32,
                    generator=generator,
                )
                * self.noise_strength
            )
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        elif noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        conv = dict(
            up=self.up, padding=self.padding, resample_filter=self.resample_filter, fused=fused
        )
        if self.activation in HOMOGENEOUS and not uses_kernel(x):
            # Reference bias_act: gain and bias ride on modconv's scale-and-noise pass.
            x = modulated_conv2d(
                x, self.weight, styles, noise, gain=act_gain, bias=self.bias * act_gain, **conv
            )
            return bias_act(x, None, act=self.activation, gain=1.0, clamp=act_clamp)
        x = modulated_conv2d(x, self.weight, styles, noise, **conv)
        return bias_act(
            x, self.bias.to(x.dtype), act=self.activation, gain=act_gain, clamp=act_clamp
        )

    def extra_repr(self) -> str:
        return (
            f"in={self.in_channels}, out={self.out_channels}, res={self.resolution}, "
            f"up={self.up}, clamp={self.conv_clamp}"
        )


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels (no demodulation), bias, optional clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # Without demodulation the eq-lr scale must be applied; it is folded into the styles.
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)
