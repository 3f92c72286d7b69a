"""The demo's procedural portraits: deterministic, and the two sets visibly differ."""

import numpy as np
import pytest

from zizi.demo.portraits import draw_portrait, write_credits, write_set


def test_a_portrait_depends_only_on_kind_seed_and_index():
    a = np.asarray(draw_portrait("base", 3, 7, size=32))
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, np.asarray(draw_portrait("base", 3, 7, size=32)))
    draw_portrait("shift", 3, 0, size=32)  # drawing others in between changes nothing
    assert np.array_equal(a, np.asarray(draw_portrait("base", 3, 7, size=32)))
    assert not np.array_equal(a, np.asarray(draw_portrait("base", 4, 7, size=32)))
    assert not np.array_equal(a, np.asarray(draw_portrait("base", 3, 8, size=32)))


def test_write_set_is_reproducible(tmp_path):
    first = write_set(tmp_path / "a", "shift", 3, seed=1, size=32)
    again = write_set(tmp_path / "b", "shift", 3, seed=1, size=32)
    assert [p.name for p in first] == ["shift-00000.png", "shift-00001.png", "shift-00002.png"]
    for x, y in zip(first, again):
        assert x.read_bytes() == y.read_bytes()
    csv = write_credits(tmp_path / "credits.csv", first, seed=1).read_text().splitlines()
    assert csv[0] == "source,credit,licence,consent" and csv[1].startswith("shift-00000.png,")


def _saturation(imgs):
    x = imgs.astype(np.float32)
    return float((x.max(-1) - x.min(-1)).mean())


def test_the_shift_set_is_more_colourful_than_the_base_set():
    base = np.stack([np.asarray(draw_portrait("base", 0, i, 32)) for i in range(24)])
    shift = np.stack([np.asarray(draw_portrait("shift", 0, i, 32)) for i in range(24)])
    assert _saturation(shift) > 2 * _saturation(base)


def test_faces_are_centred_and_vary():
    # the head sits in the middle of every portrait: the centre differs from the corners
    imgs = np.stack(
        [np.asarray(draw_portrait("base", 0, i, 32)).astype(np.float32) for i in range(24)]
    )
    centre = imgs[:, 12:20, 12:20].mean((1, 2))
    corner = imgs[:, :4, :4].mean((1, 2))
    assert np.abs(centre - corner).sum(-1).mean() > 30
    assert imgs.std(0).mean() > 10  # not one face repeated


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="kind"):
        draw_portrait("drag", 0, 0)
