"""What the TensorFlow StyleGAN2 graphs compute, in float64 numpy, straight from TF variables.

An independent reference for the TF importer's tests: it reads variables in TF's names and
layouts (`[k, k, in, out]` kernels, `[in, out]` dense weights, `mod_bias` without the +1)
and follows the TF graph's own operations, written from FORMATS.md §4 and the published
graph definitions: equalised learning rate `w · lrmul / √fan_in`, lrelu(0.2)·√2 then
clamp, modulated conv with per-sample kernels, `upsample_conv_2d` as a stride-2
*transposed* convolution of the spatially flipped kernel followed by the [1,3,3,1] FIR
(gain 4, pads 1/1), `upsample_2d` as zero insertion + FIR (pads 2/1),
`conv_downsample_2d` as FIR (pads (p+1)//2, p//2) then a stride-2 VALID conv, and the
minibatch-stddev layer. It shares nothing with zizi's networks or importer.
"""

from __future__ import annotations

import numpy as np

SQRT2 = np.sqrt(2.0)


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * SQRT2


def _bias_act(x, b, act: str | None, clamp: float | None):
    x = x + (b.reshape(1, -1, 1, 1) if x.ndim == 4 else b)
    if act == "lrelu":
        x = _lrelu(x)
    if clamp is not None:
        x = np.clip(x, -clamp, clamp)
    return x


def _dense(x, w, b, lrmul=1.0, act=None):
    w = w.astype(np.float64) * (lrmul / np.sqrt(w.shape[0]))
    return _bias_act(x @ w, b.astype(np.float64) * lrmul, act, None)


def _norm2(x):
    return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + 1e-8)


def _fir_kernel(gain: float):
    k = np.array([1.0, 3.0, 3.0, 1.0])
    k = np.outer(k, k)
    return k / k.sum() * gain


def _upfirdn(x, kernel, up: int, pad0: int, pad1: int):
    """Zero-insert by `up`, pad, then a true 2D convolution with `kernel` (TF upfirdn_2d)."""
    n, c, h, w = x.shape
    if up > 1:
        u = np.zeros((n, c, h * up, w * up))
        u[:, :, ::up, ::up] = x
        x = u
    x = np.pad(x, ((0, 0), (0, 0), (pad0, pad1), (pad0, pad1)))
    k = kernel[::-1, ::-1]
    kh, kw = k.shape
    ho, wo = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((n, c, ho, wo))
    for a in range(kh):
        for b in range(kw):
            out += x[:, :, a : a + ho, b : b + wo] * k[a, b]
    return out


def _conv(x, w, stride: int = 1, pad: int | None = None):
    """Cross-correlation like tf.nn.conv2d: per-sample kernel w [N, k, k, in, out]."""
    k = w.shape[1]
    p = k // 2 if pad is None else pad
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho = (x.shape[2] - k) // stride + 1
    wo = (x.shape[3] - k) // stride + 1
    out = np.zeros((x.shape[0], w.shape[-1], ho, wo))
    for a in range(k):
        for b in range(k):
            patch = x[
                :, :, a : a + stride * (ho - 1) + 1 : stride, b : b + stride * (wo - 1) + 1 : stride
            ]
            out += np.einsum("nchw,nco->nohw", patch, w[:, a, b])
    return out


def _upsample_conv(x, w):
    """TF upsample_conv_2d: transposed stride-2 conv of the flipped kernel, then FIR."""
    n, c, h, wd = x.shape
    k = w.shape[1]
    wf = w[:, ::-1, ::-1]
    out = np.zeros((n, w.shape[-1], (h - 1) * 2 + k, (wd - 1) * 2 + k))
    for a in range(k):
        for b in range(k):
            out[:, :, a : a + 2 * h - 1 : 2, b : b + 2 * wd - 1 : 2] += np.einsum(
                "nchw,nco->nohw", x, wf[:, a, b]
            )
    p = (4 - 2) - (k - 1)
    return _upfirdn(out, _fir_kernel(4.0), 1, (p + 1) // 2 + 1, p // 2 + 1)


def _conv_down(x, w):
    """TF conv_downsample_2d: FIR, then a stride-2 VALID conv. w [k, k, in, out] (shared)."""
    k = w.shape[0]
    p = (4 - 2) + (k - 1)
    x = _upfirdn(x, _fir_kernel(1.0), 1, (p + 1) // 2, p // 2)
    return _conv(x, np.broadcast_to(w, (x.shape[0], *w.shape)), stride=2, pad=0)


def _he(w):
    return w.astype(np.float64) / np.sqrt(np.prod(w.shape[:-1]))


def mapping(v: dict, z, c=None, psi: float = 1.0, lrmul: float = 0.01, num_ws: int | None = None):
    """G's mapping network + dlatent broadcast + truncation towards dlatent_avg."""
    x = _norm2(np.asarray(z, np.float64))
    if "mapping/LabelEmbed/weight" in v:
        y = _dense(
            np.asarray(c, np.float64), v["mapping/LabelEmbed/weight"], v["mapping/LabelEmbed/bias"]
        )
        x = np.concatenate([x, _norm2(y)], axis=1)
    i = 0
    while f"mapping/Dense{i}/weight" in v:
        x = _dense(x, v[f"mapping/Dense{i}/weight"], v[f"mapping/Dense{i}/bias"], lrmul, "lrelu")
        i += 1
    ws = np.repeat(x[:, None], num_ws, axis=1)
    avg = v["dlatent_avg"].astype(np.float64)
    return avg + (ws - avg) * psi


def _modconv(x, style, pre: str, v: dict, up=False, demodulate=True):
    w = _he(v[f"{pre}/weight"])  # [k, k, in, out]
    s = _dense(style, v[f"{pre}/mod_weight"], v[f"{pre}/mod_bias"]) + 1  # [N, in]
    ww = w[None] * s[:, None, None, :, None]
    if demodulate:
        d = 1 / np.sqrt(np.sum(ww * ww, axis=(1, 2, 3)) + 1e-8)  # [N, out]
        ww = ww * d[:, None, None, None, :]
    return _upsample_conv(x, ww) if up else _conv(x, ww)


def synthesis(v: dict, ws, clamp: float | None = None):
    """G_synthesis ('skip') with noise read from the noise{n} variables (randomize_noise=False)."""
    n = ws.shape[0]
    res_log2 = int(
        np.log2(
            max(
                int(k.split("/")[1].split("x")[0])
                for k in v
                if k.startswith("synthesis/") and k.endswith("/ToRGB/weight")
            )
        )
    )

    def layer(x, idx, scope, up=False):
        x = _modconv(x, ws[:, idx], f"synthesis/{scope}", v, up=up)
        x = x + v[f"synthesis/noise{idx}"].astype(np.float64) * float(
            v[f"synthesis/{scope}/noise_strength"]
        )
        return _bias_act(x, v[f"synthesis/{scope}/bias"].astype(np.float64), "lrelu", clamp)

    def torgb(x, res):
        t = _modconv(
            x, ws[:, res * 2 - 3], f"synthesis/{2**res}x{2**res}/ToRGB", v, demodulate=False
        )
        return _bias_act(
            t, v[f"synthesis/{2**res}x{2**res}/ToRGB/bias"].astype(np.float64), None, clamp
        )

    x = np.repeat(v["synthesis/4x4/Const/const"].astype(np.float64), n, axis=0)
    x = layer(x, 0, "4x4/Conv")
    y = torgb(x, 2)
    for res in range(3, res_log2 + 1):
        r = 2**res
        x = layer(x, res * 2 - 5, f"{r}x{r}/Conv0_up", up=True)
        x = layer(x, res * 2 - 4, f"{r}x{r}/Conv1")
        y = _upfirdn(y, _fir_kernel(4.0), 2, 2, 1) + torgb(x, res)
    return y


def generator(v: dict, z, c=None, psi: float = 1.0, clamp=None, lrmul: float = 0.01):
    res_log2 = int(
        np.log2(
            max(
                int(k.split("/")[1].split("x")[0])
                for k in v
                if k.startswith("synthesis/") and k.endswith("/ToRGB/weight")
            )
        )
    )
    ws = mapping(v, z, c, psi, lrmul, 2 * res_log2 - 2)
    return ws, synthesis(v, ws, clamp)


def _mbstd(x, group_size, num_features=1):
    n, c, h, w = x.shape
    g = n if group_size is None else min(group_size, n)
    y = x.reshape(g, -1, num_features, c // num_features, h, w)
    y = y - y.mean(axis=0)
    y = np.sqrt((y * y).mean(axis=0) + 1e-8)
    y = y.mean(axis=(2, 3, 4)).reshape(-1, num_features, 1, 1)
    y = np.tile(y, (g, 1, h, w))
    return np.concatenate([x, y], axis=1)


def discriminator(v: dict, img, c=None, clamp=None, mbstd_group_size=4, mapping_lrmul: float = 0.1):
    """D ('resnet'), with stylegan2-ada's label embedding + projection when conditional."""
    x_img = np.asarray(img, np.float64)
    top = x_img.shape[-1]
    shared = lambda w: np.broadcast_to(_he(w), (x_img.shape[0], *w.shape))  # noqa: E731

    cmap = None
    if "LabelEmbed/weight" in v:
        cmap = _norm2(
            _dense(np.asarray(c, np.float64), v["LabelEmbed/weight"], v["LabelEmbed/bias"])
        )
        i = 0
        while f"Mapping{i}/weight" in v:
            cmap = _dense(
                cmap, v[f"Mapping{i}/weight"], v[f"Mapping{i}/bias"], mapping_lrmul, "lrelu"
            )
            i += 1
    r = top
    x = _bias_act(
        _conv(x_img, shared(v[f"{r}x{r}/FromRGB/weight"])),
        v[f"{r}x{r}/FromRGB/bias"],
        "lrelu",
        clamp,
    )
    while r > 4:
        t = x
        x = _bias_act(
            _conv(x, shared(v[f"{r}x{r}/Conv0/weight"])), v[f"{r}x{r}/Conv0/bias"], "lrelu", clamp
        )
        x = _bias_act(
            _conv_down(x, _he(v[f"{r}x{r}/Conv1_down/weight"])),
            v[f"{r}x{r}/Conv1_down/bias"],
            "lrelu",
            clamp,
        )
        t = _conv_down(t, _he(v[f"{r}x{r}/Skip/weight"]))
        x = (x + t) * (1 / np.sqrt(2))
        r //= 2
    x = _mbstd(x, mbstd_group_size)
    x = _bias_act(_conv(x, shared(v["4x4/Conv/weight"])), v["4x4/Conv/bias"], "lrelu", clamp)
    x = _dense(
        x.reshape(x.shape[0], -1), v["4x4/Dense0/weight"], v["4x4/Dense0/bias"], 1.0, "lrelu"
    )
    x = _dense(x, v["Output/weight"], v["Output/bias"])
    if cmap is not None:
        x = np.sum(x * cmap, axis=1, keepdims=True) / np.sqrt(cmap.shape[1])
    return x
