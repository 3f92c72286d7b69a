"""A sound-driven render names its sound: the track that set the pace (and is muxed into the
video) is an input like the checkpoint, so its provenance records it with its own sha256.

`test_audio.py` checks the pace and the sound in the file; a render that dropped the track
from its record would pass it.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import invoke
from tests.helpers.media import click_track
from zizi.render.provenance import sha256_file


def _entries(doc):
    """Every {"file", "sha256"} mapping anywhere in a provenance record."""
    if isinstance(doc, dict):
        if "sha256" in doc and "file" in doc:
            yield doc
        for v in doc.values():
            yield from _entries(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _entries(v)


@pytest.mark.parametrize("scene", ["walk", "shift"])
def test_the_record_names_the_track_by_its_own_sha256(tiny_run, frames_of, tmp_path, scene):
    track = click_track(tmp_path / "beat.wav", seconds=1.6)
    out = tmp_path / "frames"
    source = frames_of[1] if scene == "walk" else tiny_run
    r = invoke(
        "render",
        scene,
        source,
        "--audio",
        track,
        "--fps",
        4,
        "--seeds",
        1,
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "provenance.json").read_text())
    named = [e for e in _entries(doc) if e["file"] == "beat.wav"]
    assert named and all(e["sha256"] == sha256_file(track) for e in named), doc


def test_a_looped_walk_follows_the_looped_sound_clock(tmp_path):
    """With --loop the sound's clock runs to the frame after the last (the first again): each
    frame is the walk at `clock(speeds, loop=True)`, recomputed here from the track."""
    import numpy as np
    import torch
    from PIL import Image

    from tests.helpers.tiny import tiny_checkpoint
    from zizi.io.checkpoint import build_generator, save_checkpoint
    from zizi.render.audio import analyse, clock
    from zizi.render.batches import synthesize
    from zizi.render.walks import LatentWalk, keyframe_z

    ck = save_checkpoint(tmp_path / "g.safetensors", tiny_checkpoint(16, seed=3))
    track = click_track(tmp_path / "beat.wav", seconds=1.6)
    out, fps = tmp_path / "frames", 5
    r = invoke(
        "render",
        "walk",
        ck,
        "--audio",
        track,
        "--fps",
        fps,
        "--seeds",
        2,
        "--loop",
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    speeds = analyse(track, fps).speeds()
    n = len(speeds)
    looped, straight = clock(speeds, True), clock(speeds, False)
    G = build_generator(tiny_checkpoint(16, seed=3))
    walk = LatentWalk(keyframe_z([2], 1, 4, G.z_dim), loop=True)
    k = int(np.argmax(np.abs(np.asarray(looped) - np.asarray(straight))))
    got = np.asarray(Image.open(out / f"frame{k:06d}.png").convert("RGB"))
    with torch.no_grad():
        want = synthesize(G, z=walk.at(looped[k], n))[0]
        other = synthesize(G, z=walk.at(straight[k], n))[0]
    assert np.array_equal(got, want)
    assert not np.array_equal(want, other)
