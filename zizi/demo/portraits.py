"""Procedural portraits for the demo: a plain "base" set and a visibly different "shift" set.

No face dataset can be downloaded at run time, so `zizi demo` draws its own. Both sets
come from one face model (a head oval on a neck and shoulders, ears, hair, eyes with
irises, brows, nose and mouth, with a small head tilt), so a GAN trained on the base set
learns the structure and a fine-tune on the shift set has the same structure to keep:

- **base**: plain portraits on muted backgrounds, short everyday hair, muted clothes,
  varied expressions (smile, neutral, open mouth, raised brows, gaze);
- **shift**: the same kind of faces in drag: big coloured wigs, bold eye shadow with
  winged liner and lashes, drawn-on arched brows, bright lipstick, blush, glitter,
  earrings, tiaras and face gems, sequined clothes on stage-light backgrounds.

Skin tones are drawn uniformly from a wide range, unlike the photo sets face models are
usually trained on (FFHQ skews light): what a generator can draw is what its data holds.

Everything is deterministic: image `i` of set `kind` with `seed` depends on those three
numbers only (`numpy.random.default_rng([seed, kind, i])`), never on how many images are
drawn or in which order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Kind = Literal["base", "shift"]
KINDS: tuple[Kind, ...] = ("base", "shift")

# Skin tones from deep to light (sRGB), sampled uniformly and then jittered.
SKIN = [
    (72, 46, 33),
    (96, 62, 42),
    (128, 84, 56),
    (160, 108, 74),
    (190, 136, 98),
    (214, 166, 128),
    (232, 190, 156),
    (246, 214, 188),
]
HAIR_PLAIN = [
    (24, 18, 14),
    (48, 32, 22),
    (82, 56, 36),
    (120, 84, 50),
    (176, 140, 90),
    (140, 140, 140),
    (60, 40, 30),
]
BG_PLAIN = [
    (196, 196, 192),
    (170, 180, 190),
    (210, 200, 184),
    (150, 160, 150),
    (120, 124, 130),
    (222, 222, 218),
    (186, 170, 160),
]
CLOTH_PLAIN = [
    (40, 48, 70),
    (90, 90, 96),
    (70, 56, 44),
    (44, 70, 56),
    (226, 226, 222),
    (120, 40, 40),
    (30, 30, 34),
]
# Drag palette: saturated stage colours.
WIG = [
    (255, 60, 170),
    (60, 120, 255),
    (245, 245, 255),
    (170, 60, 255),
    (255, 140, 20),
    (40, 220, 140),
    (255, 230, 60),
    (255, 20, 60),
]
BOLD = [
    (255, 0, 150),
    (0, 210, 255),
    (255, 200, 0),
    (150, 0, 255),
    (0, 230, 120),
    (255, 90, 0),
    (255, 40, 80),
]
LIPS = [(200, 0, 40), (20, 10, 20), (120, 0, 140), (255, 20, 120), (230, 60, 0), (0, 90, 200)]
BG_STAGE = [(120, 0, 90), (20, 0, 90), (0, 90, 110), (150, 90, 0), (90, 0, 160), (10, 10, 30)]
GLITTER = [(255, 255, 255), (255, 215, 80), (200, 220, 255), (255, 120, 220), (120, 255, 255)]
GOLD = (240, 190, 40)

SUPERSAMPLE = 2  # drawn at 2x and reduced with Lanczos, so edges are anti-aliased


@dataclass(frozen=True)
class Face:
    """Geometry and colours shared by both sets (what the base model should learn)."""

    cx: float  # head centre, as a fraction of the image side
    cy: float
    rw: float  # head half-width and half-height
    rh: float
    tilt: float  # degrees, about the head centre
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_depth: float  # how far the hair comes down the forehead, fraction of rh
    long_hair: bool
    bg: tuple[int, int, int]
    cloth: tuple[int, int, int]
    eye_colour: tuple[int, int, int]
    gaze: float  # iris offset, fraction of the eye's half-width
    brow_raise: float
    mouth: Literal["smile", "neutral", "open"]


def _jitter(
    rng: np.random.Generator, colour: tuple[int, int, int], amount: int
) -> tuple[int, int, int]:
    d = rng.integers(-amount, amount + 1, size=3).tolist()
    return tuple(min(255, max(0, c + e)) for c, e in zip(colour, d))  # type: ignore[return-value]


def _shade(colour: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(c * f))) for c in colour)  # type: ignore[return-value]


def _pick(rng: np.random.Generator, palette: list) -> tuple[int, int, int]:
    return palette[int(rng.integers(len(palette)))]


def sample_face(rng: np.random.Generator) -> Face:
    """Draw the random choices of one face (positions, tones, expression)."""
    return Face(
        cx=0.5 + rng.uniform(-0.05, 0.05),
        cy=0.46 + rng.uniform(-0.035, 0.035),
        rw=rng.uniform(0.18, 0.22),
        rh=rng.uniform(0.245, 0.285),
        tilt=rng.uniform(-7, 7),
        skin=_jitter(rng, _pick(rng, SKIN), 10),
        hair=_jitter(rng, _pick(rng, HAIR_PLAIN), 8),
        hair_depth=rng.uniform(0.2, 0.55),
        long_hair=bool(rng.random() < 0.35),
        bg=_jitter(rng, _pick(rng, BG_PLAIN), 12),
        cloth=_jitter(rng, _pick(rng, CLOTH_PLAIN), 12),
        eye_colour=_pick(
            rng, [(60, 36, 20), (40, 24, 14), (60, 100, 140), (70, 110, 60), (20, 20, 20)]
        ),
        gaze=rng.uniform(-0.3, 0.3),
        brow_raise=rng.uniform(-0.02, 0.05),
        mouth=("smile", "neutral", "open")[int(rng.choice(3, p=[0.45, 0.35, 0.2]))],
    )


class _Canvas:
    """Drawing in unit coordinates (fractions of the side) on a supersampled RGBA layer."""

    def __init__(self, size: int, fill: tuple[int, ...] = (0, 0, 0, 0)) -> None:
        self.px = size * SUPERSAMPLE
        self.img = Image.new("RGBA", (self.px, self.px), fill)
        self.draw = ImageDraw.Draw(self.img)

    def box(self, cx: float, cy: float, rx: float, ry: float) -> list[float]:
        s = self.px
        return [(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s]

    def ellipse(self, cx, cy, rx, ry, fill, outline=None, width: float = 0.0) -> None:
        self.draw.ellipse(
            self.box(cx, cy, rx, ry),
            fill=fill,
            outline=outline,
            width=max(1, round(width * self.px)) if outline else 0,
        )

    def chord(self, cx, cy, rx, ry, start, end, fill) -> None:
        self.draw.chord(self.box(cx, cy, rx, ry), start, end, fill=fill)

    def arc(self, cx, cy, rx, ry, start, end, fill, width: float) -> None:
        self.draw.arc(
            self.box(cx, cy, rx, ry), start, end, fill=fill, width=max(1, round(width * self.px))
        )

    def polygon(self, points, fill) -> None:
        self.draw.polygon([(x * self.px, y * self.px) for x, y in points], fill=fill)

    def line(self, points, fill, width: float) -> None:
        self.draw.line(
            [(x * self.px, y * self.px) for x, y in points],
            fill=fill,
            width=max(1, round(width * self.px)),
            joint="curve",
        )

    def rect(self, x0, y0, x1, y1, fill) -> None:
        s = self.px
        self.draw.rectangle([x0 * s, y0 * s, x1 * s, y1 * s], fill=fill)


def _background(c: _Canvas, f: Face, rng: np.random.Generator, stage: bool) -> None:
    top = np.array(f.bg, dtype=np.float32)
    bottom = top * (0.55 if stage else 0.85)
    t = np.linspace(0, 1, c.px, dtype=np.float32)[:, None, None]
    grad = (top * (1 - t) + bottom * t).repeat(c.px, axis=1)
    if stage:  # a spotlight behind the head
        yy, xx = np.mgrid[0 : c.px, 0 : c.px].astype(np.float32) / c.px
        d = np.sqrt((xx - f.cx) ** 2 + (yy - f.cy + 0.05) ** 2)
        spot = np.clip(1.0 - d / 0.55, 0, 1)[..., None] ** 1.5
        light = np.array(_pick(rng, GLITTER), dtype=np.float32)
        grad = grad * (1 - 0.6 * spot) + light * 0.6 * spot
    alpha = np.full((c.px, c.px, 1), 255, np.float32)
    c.img.paste(
        Image.fromarray(np.concatenate([grad, alpha], -1).clip(0, 255).astype(np.uint8), "RGBA")
    )


def _body(c: _Canvas, f: Face, cloth: tuple[int, int, int]) -> None:
    neck_w = f.rw * 0.42
    c.rect(
        f.cx - neck_w, f.cy + f.rh * 0.55, f.cx + neck_w, f.cy + f.rh * 1.45, _shade(f.skin, 0.88)
    )
    c.ellipse(f.cx, f.cy + f.rh * 1.45 + 0.2, f.rw * 2.3, 0.26, cloth)
    # collar opening: skin V below the neck
    y0 = f.cy + f.rh * 1.3
    c.polygon(
        [(f.cx - neck_w * 1.1, y0), (f.cx + neck_w * 1.1, y0), (f.cx, y0 + 0.08)],
        _shade(f.skin, 0.88),
    )


def _head(c: _Canvas, f: Face, hair: tuple[int, int, int], hair_depth: float) -> None:
    if f.long_hair:  # falls behind the head to the shoulders; the neck stays in front
        c.ellipse(f.cx, f.cy + f.rh * 0.25, f.rw * 1.22, f.rh * 1.12, _shade(hair, 0.85))
        neck_w = f.rw * 0.42
        c.rect(
            f.cx - neck_w,
            f.cy + f.rh * 0.55,
            f.cx + neck_w,
            f.cy + f.rh * 1.45,
            _shade(f.skin, 0.88),
        )
    ear_y = f.cy + f.rh * 0.02
    for sx in (-1, 1):
        c.ellipse(f.cx + sx * f.rw * 0.98, ear_y, f.rw * 0.16, f.rh * 0.16, _shade(f.skin, 0.92))
    c.ellipse(f.cx, f.cy, f.rw, f.rh, f.skin)
    # hair cap: the top of a slightly larger ellipse, down to hair_depth of the forehead
    top = f.cy - f.rh * 1.07
    depth = f.rh * (0.5 + hair_depth)
    c.chord(f.cx, top + depth, f.rw * 1.07, depth, 180, 360, hair)


def _eyes(c: _Canvas, f: Face, *, dark_lids: bool = False) -> list[tuple[float, float]]:
    ey = f.cy - f.rh * 0.02
    centres = []
    for sx in (-1, 1):
        ex = f.cx + sx * f.rw * 0.42
        centres.append((ex, ey))
        # Drawn bold, as a cartoonist would for a thumbnail: at 32² a smaller eye (a thin
        # white, a coloured iris) blurs into a skin-coloured smudge that no net can learn.
        c.ellipse(ex, ey, f.rw * 0.26, f.rw * 0.15, (250, 250, 248))
        ix = ex + f.gaze * f.rw * 0.1
        c.ellipse(ix, ey, f.rw * 0.13, f.rw * 0.13, _shade(f.eye_colour, 0.3))
        c.ellipse(ix + f.rw * 0.04, ey - f.rw * 0.04, f.rw * 0.025, f.rw * 0.025, (255, 255, 255))
        # upper lid line
        lid = (10, 8, 8) if dark_lids else _shade(f.skin, 0.4)
        c.arc(
            ex,
            ey,
            f.rw * 0.26,
            f.rw * 0.15,
            190,
            350,
            lid,
            width=f.rw * (0.08 if dark_lids else 0.06),
        )
    return centres


def _brows(c: _Canvas, f: Face, colour, raise_: float, arched: bool, width: float) -> None:
    by = f.cy - f.rh * (0.2 + raise_ * (6 if arched else 1)) - raise_
    for sx in (-1, 1):
        inner = (f.cx + sx * f.rw * 0.18, by + f.rh * 0.02)
        peak = (f.cx + sx * f.rw * 0.42, by - f.rh * (0.07 if arched else 0.03))
        outer = (f.cx + sx * f.rw * 0.66, by + f.rh * (0.03 if arched else 0.01))
        c.line([inner, peak, outer], colour, width)


def _nose(c: _Canvas, f: Face) -> None:
    shadow = _shade(f.skin, 0.72)
    c.line(
        [(f.cx + f.rw * 0.02, f.cy + f.rh * 0.02), (f.cx + f.rw * 0.06, f.cy + f.rh * 0.27)],
        _shade(f.skin, 0.85),
        f.rw * 0.04,
    )
    c.arc(f.cx, f.cy + f.rh * 0.26, f.rw * 0.13, f.rh * 0.06, 10, 170, shadow, f.rw * 0.04)


def _mouth(c: _Canvas, f: Face, lip: tuple[int, int, int], full: bool) -> None:
    my = f.cy + f.rh * 0.52
    mw = f.rw * (0.4 if full else 0.36)
    if f.mouth == "open":
        c.ellipse(f.cx, my, mw * 0.75, f.rh * 0.09, lip)
        c.ellipse(f.cx, my, mw * 0.55, f.rh * 0.05, (60, 10, 16))
        c.rect(
            f.cx - mw * 0.4, my - f.rh * 0.05, f.cx + mw * 0.4, my - f.rh * 0.025, (240, 236, 226)
        )
    elif f.mouth == "smile":
        if full:
            c.chord(f.cx, my - f.rh * 0.05, mw, f.rh * 0.11, 0, 180, lip)
        c.arc(f.cx, my - f.rh * 0.06, mw, f.rh * 0.1, 15, 165, _shade(lip, 0.7), f.rw * 0.05)
    else:
        if full:
            c.ellipse(f.cx, my, mw * 0.85, f.rh * 0.06, lip)
        c.line([(f.cx - mw * 0.8, my), (f.cx + mw * 0.8, my)], _shade(lip, 0.7), f.rw * 0.045)


def _glitter(c: _Canvas, rng: np.random.Generator, cx, cy, rx, ry, n: int, size: float) -> None:
    for _ in range(n):
        a, r = rng.uniform(0, 2 * math.pi), math.sqrt(rng.uniform(0, 1))
        x, y = cx + r * rx * math.cos(a), cy + r * ry * math.sin(a)
        s = size * rng.uniform(0.5, 1.3)
        c.ellipse(x, y, s, s, _pick(rng, GLITTER) + (255,))


def _wig(c: _Canvas, f: Face, rng: np.random.Generator, colour) -> None:
    style = int(rng.integers(3))
    dark = _shade(colour, 0.75)
    if style == 0:  # big round volume
        c.ellipse(f.cx, f.cy - f.rh * 0.2, f.rw * 1.75, f.rh * 1.25, dark)
        for _ in range(26):  # curls around the edge
            a = rng.uniform(math.pi * 0.9, math.pi * 2.1)
            x = f.cx + f.rw * 1.6 * math.cos(a)
            y = f.cy - f.rh * 0.2 + f.rh * 1.1 * math.sin(a)
            c.ellipse(x, y, f.rw * 0.28, f.rw * 0.28, colour)
    elif style == 1:  # beehive
        c.ellipse(f.cx, f.cy - f.rh * 0.95, f.rw * 1.05, f.rh * 0.95, colour)
        c.ellipse(f.cx, f.cy + f.rh * 0.1, f.rw * 1.4, f.rh * 1.05, dark)
    else:  # long straight with a fringe
        c.rect(f.cx - f.rw * 1.45, f.cy - f.rh * 0.4, f.cx + f.rw * 1.45, f.cy + f.rh * 1.6, dark)
        c.ellipse(f.cx, f.cy - f.rh * 0.45, f.rw * 1.45, f.rh * 0.85, colour)


def _drag_face(c: _Canvas, f: Face, rng: np.random.Generator) -> None:
    """Make-up, glitter and ornaments over the head drawn by `_head`."""
    shadow = _pick(rng, BOLD)
    lip = _pick(rng, LIPS)
    blush = _pick(rng, [(255, 60, 140), (255, 110, 90), (230, 40, 200)])
    # contour + blush, translucent
    over = _Canvas(c.px // SUPERSAMPLE)
    for sx in (-1, 1):
        over.ellipse(
            f.cx + sx * f.rw * 0.55, f.cy + f.rh * 0.28, f.rw * 0.26, f.rh * 0.12, blush + (150,)
        )
    c.img.alpha_composite(over.img)
    # eye shadow from lid to brow, winged liner
    ey = f.cy - f.rh * 0.02
    for sx in (-1, 1):
        ex = f.cx + sx * f.rw * 0.42
        c.ellipse(ex + sx * f.rw * 0.04, ey - f.rh * 0.1, f.rw * 0.36, f.rh * 0.21, shadow)
        c.polygon(
            [
                (ex + sx * f.rw * 0.12, ey - f.rw * 0.06),
                (ex + sx * f.rw * 0.42, ey - f.rw * 0.2),
                (ex + sx * f.rw * 0.2, ey + f.rw * 0.01),
            ],
            (8, 6, 10),
        )
    _eyes(c, f, dark_lids=True)
    for sx in (-1, 1):  # lashes
        ex = f.cx + sx * f.rw * 0.42
        for k in range(5):
            x = ex + (k - 2) * f.rw * 0.07
            c.line(
                [(x, ey - f.rw * 0.08), (x + sx * f.rw * 0.03, ey - f.rw * 0.17)],
                (5, 5, 8),
                f.rw * 0.025,
            )
    _brows(c, f, _shade(shadow, 0.35), f.brow_raise + 0.03, arched=True, width=f.rw * 0.08)
    _nose(c, f)
    _mouth(c, f, lip, full=True)
    if rng.random() < 0.8:  # glitter over lids and cheekbones
        for sx in (-1, 1):
            _glitter(
                c,
                rng,
                f.cx + sx * f.rw * 0.45,
                ey - f.rh * 0.12,
                f.rw * 0.3,
                f.rh * 0.12,
                10,
                0.006,
            )
        _glitter(c, rng, f.cx, f.cy + f.rh * 0.1, f.rw * 0.9, f.rh * 0.3, 14, 0.005)
    if rng.random() < 0.5:  # face gems along the brow
        for sx in (-1, 1):
            for k in range(3):
                x = f.cx + sx * f.rw * (0.3 + 0.17 * k)
                c.ellipse(
                    x, f.cy - f.rh * 0.38 + k * 0.004, 0.008, 0.008, _pick(rng, GLITTER) + (255,)
                )


def _ornaments(c: _Canvas, f: Face, rng: np.random.Generator) -> None:
    if rng.random() < 0.75:  # big earrings
        colour = _pick(rng, [GOLD, (230, 230, 240), _pick(rng, BOLD)])
        for sx in (-1, 1):
            x, y = f.cx + sx * f.rw * 1.02, f.cy + f.rh * 0.35
            c.ellipse(x, y, f.rw * 0.17, f.rw * 0.2, None, outline=colour, width=0.012)
            c.ellipse(x, y + f.rw * 0.22, f.rw * 0.05, f.rw * 0.05, colour)
    if rng.random() < 0.5:  # tiara
        base_y = f.cy - f.rh * 0.95
        pts = [(f.cx - f.rw * 0.7, base_y)]
        for k in range(7):
            x = f.cx - f.rw * 0.7 + (k + 0.5) * f.rw * 0.2
            pts.append((x, base_y - f.rh * (0.3 if k == 3 else 0.14 + 0.04 * (k % 2))))
        pts.append((f.cx + f.rw * 0.7, base_y))
        c.polygon(pts, GOLD)
        c.ellipse(f.cx, base_y - f.rh * 0.12, f.rw * 0.07, f.rw * 0.07, _pick(rng, BOLD))


def _sequins(c: _Canvas, f: Face, rng: np.random.Generator, colour) -> None:
    top = f.cy + f.rh * 1.45 - 0.06
    for _ in range(60):
        x = rng.uniform(f.cx - f.rw * 2.2, f.cx + f.rw * 2.2)
        y = rng.uniform(top, 1.0)
        s = rng.uniform(0.004, 0.009)
        c.ellipse(x, y, s, s, _shade(colour, rng.uniform(1.1, 1.6)) + (255,))
    if rng.random() < 0.5:  # feather boa
        boa = _pick(rng, WIG)
        for k in range(14):
            t = k / 13
            x = f.cx - f.rw * 2.0 + t * f.rw * 4.0
            y = top + 0.03 + 0.05 * math.sin(t * math.pi)
            c.ellipse(x, y, 0.05, 0.04, _shade(boa, rng.uniform(0.8, 1.2)))


def draw_portrait(kind: Kind, seed: int, index: int, size: int = 128) -> Image.Image:
    """Portrait `index` of set `kind` (an RGB image `size`² px), a function of its arguments
    only."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng([seed, KINDS.index(kind), index])
    f = sample_face(rng)
    drag = kind == "shift"
    if drag:
        f = Face(
            **{
                **f.__dict__,
                "bg": _jitter(rng, _pick(rng, BG_STAGE), 20),
                "cloth": _jitter(rng, _pick(rng, BOLD), 20),
            }
        )
    back = _Canvas(size, (0, 0, 0, 255))
    _background(back, f, rng, stage=drag)
    _body(back, f, f.cloth)
    if drag:
        _sequins(back, f, rng, f.cloth)
    head = _Canvas(size)
    if drag:
        wig = _jitter(rng, _pick(rng, WIG), 15)
        _wig(head, f, rng, wig)
        _head(head, f, wig, hair_depth=rng.uniform(0.1, 0.3))
        _drag_face(head, f, rng)
        _ornaments(head, f, rng)
    else:
        _head(head, f, f.hair, f.hair_depth)
        _eyes(head, f)
        _brows(head, f, _shade(f.hair, 0.6), f.brow_raise, arched=False, width=f.rw * 0.09)
        _nose(head, f)
        # a full, dark mouth: a thin skin-toned one vanishes at 32²
        lip = _jitter(rng, _shade(f.skin, 0.45), 6)
        _mouth(head, f, (lip[0], int(lip[1] * 0.6), int(lip[2] * 0.6)), full=True)
    s = head.px
    tilted = head.img.rotate(f.tilt, resample=Image.BICUBIC, center=(f.cx * s, f.cy * s))
    back.img.alpha_composite(tilted)
    out = back.img.convert("RGB").resize((size, size), Image.LANCZOS)
    return out.filter(ImageFilter.SMOOTH) if not drag else out


def write_set(
    out_dir: Path,
    kind: Kind,
    count: int,
    seed: int = 0,
    size: int = 128,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Draw `count` portraits of `kind` into `out_dir` as `<kind>-00000.png`...; their paths."""
    from zizi.files import write_png

    out_dir = Path(out_dir)
    paths = []
    for i in range(count):
        p = out_dir / f"{kind}-{i:05d}.png"
        write_png(p, np.asarray(draw_portrait(kind, seed, i, size)))
        paths.append(p)
        if progress is not None:
            progress(i + 1, count)
    return paths


def write_credits(path: Path, images: list[Path], seed: int) -> Path:
    """A credits CSV for `zizi dataset prepare --credits`: synthetic, CC0, nobody's face.

    It lives beside the image folder, not in it (prepare would report it as not an image).
    """
    from zizi.files import write_text

    rows = ["source,credit,licence,consent"]
    rows += [
        f"{p.name},zizi demo (procedural drawing; seed {seed}),CC0-1.0,"
        "not applicable: synthetic image of no one"
        for p in images
    ]
    return write_text(path, "\n".join(rows) + "\n")


def contact_sheet(
    kind: Kind, seed: int = 0, n: int = 64, size: int = 128, cols: int = 8
) -> np.ndarray:
    """A grid of the first `n` portraits of a set, as an [H, W, 3] uint8 array (for looking at)."""
    from zizi.render.images import make_grid

    imgs = np.stack([np.asarray(draw_portrait(kind, seed, i, size)) for i in range(n)])
    return make_grid(imgs, cols=cols, pad=2)
