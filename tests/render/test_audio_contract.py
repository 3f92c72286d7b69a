"""A sound-driven render names its sound: the track that set the pace (and is muxed into the
video) is an input like the checkpoint, so its provenance records it with its own sha256.

`test_audio.py` checks the pace and the sound in the file; a render that dropped the track
from its record would pass it.
"""

from __future__ import annotations

import json

import pytest

from tests.render.test_audio import click_track, run
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
    r = run("render", scene, source, "--audio", track, "--fps", 4, "--seeds", 1, "--out", out,
            "--device", "cpu")
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "provenance.json").read_text())
    named = [e for e in _entries(doc) if e["file"] == "beat.wav"]
    assert named and all(e["sha256"] == sha256_file(track) for e in named), doc
