"""FFHQ-style alignment on a real face photo that ships with scikit-image (`astronaut`).

Needs the optional `zizi[faces]` extra (dlib-bin + face_recognition_models); skipped only
when it is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib", reason="needs the zizi[faces] extra (dlib-bin)")
pytest.importorskip("skimage")

from zizi.data.align import FaceFinder, align, faces_available, ffhq_quad, quad_size  # noqa: E402

pytestmark = pytest.mark.skipif(not faces_available(), reason="face_recognition_models missing")

RES = 256


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())  # 512×512, Eileen Collins, NASA (public domain)


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return FaceFinder(landmarks="5")


def test_landmarks_on_astronaut(astronaut, finder):
    faces = finder.find(astronaut)
    assert len(faces) == 1  # the low-score hit on the suit is below the threshold
    f = faces[0]
    # Eye centres and mouth checked by eye on the 512² photo: (203, 102), (246, 104), (224, 140).
    np.testing.assert_allclose(f.eye_left, (203.5, 102), atol=4)
    np.testing.assert_allclose(f.eye_right, (246.5, 104.5), atol=4)
    np.testing.assert_allclose(f.mouth, (224, 140), atol=5)
    f68 = FaceFinder(landmarks="68").find(astronaut)[0]
    np.testing.assert_allclose(f68.mouth, (223.5, 140), atol=4)
    # The 5-point model's extrapolated mouth gives (nearly) the 68-point quad.
    np.testing.assert_allclose(ffhq_quad(f), ffhq_quad(f68), atol=4)


def test_aligned_crop_puts_eyes_where_ffhq_does(astronaut, finder):
    face = finder.find(astronaut)[0]
    quad = ffhq_quad(face)
    # Quad side = 4 × eye distance (the eye term dominates for a frontal face).
    eye_dist = np.hypot(*(np.subtract(face.eye_right, face.eye_left)))
    assert quad_size(quad) == pytest.approx(4 * eye_dist, rel=0.02)
    out = align(astronaut, quad, RES)
    assert out.size == (RES, RES) and out.mode == "RGB"
    again = finder.find(out)
    assert len(again) == 1
    g = again[0]
    # FFHQ geometry: eyes at 3/8 and 5/8 of the width, level, a little above the middle.
    np.testing.assert_allclose(g.eye_left, (0.375 * RES, 0.478 * RES), atol=6)
    np.testing.assert_allclose(g.eye_right, (0.625 * RES, 0.478 * RES), atol=6)
    assert abs(g.eye_left[1] - g.eye_right[1]) < 3


def test_rotated_face_is_levelled(astronaut, finder):
    tilted = astronaut.rotate(20, resample=Image.Resampling.BICUBIC, center=(225, 120))
    face = finder.find(tilted)[0]
    slope = np.degrees(
        np.arctan2(face.eye_right[1] - face.eye_left[1], face.eye_right[0] - face.eye_left[0])
    )
    assert slope < -15  # the photo's eyes now slope upwards to the right
    g = finder.find(align(tilted, ffhq_quad(face), RES))[0]
    assert abs(g.eye_left[1] - g.eye_right[1]) < 4


def test_face_at_edge_is_reflect_padded(astronaut, finder):
    edge = astronaut.crop((150, 60, 330, 240))  # the face touches the top border
    face = finder.find(edge)[0]
    out = np.asarray(align(edge, ffhq_quad(face), 128)).astype(int)
    # The quad reaches outside the photo: the corners are filled, not black.
    for corner in (out[:8, :8], out[:8, -8:], out[-8:, :8], out[-8:, -8:]):
        assert corner.mean() > 40


def test_prepare_face_modes(astronaut, tmp_path: Path):
    from tests.data.messy import smooth_noise
    from zizi.data.manifest import load_manifest
    from zizi.data.prepare import PrepareConfig, prepare

    src = tmp_path / "src"
    src.mkdir()
    astronaut.save(src / "a_astronaut.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned; viewer turns it 90° anticlockwise to show upright
    astronaut.transpose(Image.Transpose.ROTATE_270).save(src / "b_sideways.jpg", exif=exif)
    smooth_noise(1, (200, 200)).save(src / "c_noface.png")
    r = prepare(PrepareConfig(src=src, out=tmp_path / "f", resolution=64, align="face"))
    m = load_manifest(tmp_path / "f")
    assert [x.source for x in m.images] == ["a_astronaut.jpg", "b_sideways.jpg"]
    assert [(s.source, s.reason) for s in r.skipped] == [("c_noface.png", "no face found")]
    a, b = (np.asarray(Image.open(tmp_path / "f" / x.file)).astype(int) for x in m.images)
    assert np.abs(a - b).mean() < 8  # orientation honoured: the same aligned face
    assert m.images[0].transform["align"] == "face" and len(m.images[0].transform["quad"]) == 4

    r = prepare(PrepareConfig(src=src, out=tmp_path / "g", resolution=64, align="face-or-center"))
    m = load_manifest(tmp_path / "g")
    assert [x.transform["align"] for x in m.images] == ["face", "face", "center"]
    # The fallback is said, not silent: counted in the result, report.json and the manifest.
    assert [(f.source, f.reason) for f in r.fallback] == [("c_noface.png", "no face found")]
    report = json.loads((tmp_path / "g" / "report.json").read_text())
    assert report["fallback_count"] == 1 and report["fallback"][0]["source"] == "c_noface.png"
    assert m.images[2].transform["fallback"] == "no face found"
    # An image too small to hold a face of --min-face is "too small", not "no face found";
    # a run that yields no image is an error that names the reasons, and writes nothing.
    from zizi.errors import DatasetError

    with pytest.raises(DatasetError, match="too small ×3"):
        prepare(
            PrepareConfig(src=src, out=tmp_path / "h", resolution=64, align="face", min_face=1000)
        )
    assert not (tmp_path / "h").exists()
