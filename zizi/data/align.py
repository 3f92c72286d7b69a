"""FFHQ-style face alignment: landmarks -> oriented quad -> crop, reflect-pad, transform.

The geometry follows NVlabs' ffhq-dataset `recreate_aligned_images` (Karras et al. 2019):
the quad is built from the eye centres and the mouth centre, the image is cropped with a
10% border, reflect-padded with a blur that grows towards the edge, and resampled.

Landmarks come from dlib (the optional `zizi[faces]` extra: `dlib-bin` +
`face_recognition_models`, whose model files ship in the wheel and load offline):

- detector: dlib's HOG frontal face detector, built into dlib (Boost Software License).
- `landmarks="5"` (default): `shape_predictor_5_face_landmarks.dat`, trained by Davis King
  on his own 5-point dataset released under CC0 — usable for artistic and commercial work.
  It gives eye corners and the base of the nose; the mouth centre is extrapolated (below).
- `landmarks="68"`: `shape_predictor_68_face_landmarks.dat`, trained on iBUG 300-W, whose
  licence excludes commercial use. It gives real mouth corners (exact FFHQ recipe).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from zizi.errors import DatasetError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

LandmarkModel = Literal["5", "68"]

# Mouth centre = eye centre + K · (nose base − eye centre) for the 5-point model. K was
# measured with the 68-point model on scikit-image's `astronaut` (eye centre → mouth-corner
# midpoint over eye centre → nose base, point 33): 1.17. tests/data/test_align.py checks that
# 5- and 68-point quads agree on that photo.
MOUTH_FROM_NOSE = 1.17

_MODEL_FILES = {
    "5": "shape_predictor_5_face_landmarks.dat",
    "68": "shape_predictor_68_face_landmarks.dat",
}


@dataclass(frozen=True)
class Face:
    eye_left: tuple[float, float]  # (x, y) centre of the eye on the image's left
    eye_right: tuple[float, float]
    mouth: tuple[float, float]  # centre between the mouth corners
    score: float  # detector confidence
    box: tuple[int, int, int, int]  # detector rectangle (left, top, right, bottom)


def faces_available() -> bool:
    return importlib.util.find_spec("dlib") is not None and _models_dir() is not None


def _models_dir() -> Path | None:
    # face_recognition_models imports pkg_resources (gone from new setuptools), so the
    # model folder is located without importing the package.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if folder.is_dir() else None


class FaceFinder:
    """dlib HOG detector + shape predictor; build once per worker process."""

    def __init__(
        self,
        landmarks: LandmarkModel = "5",  # "5" (CC0 model) or "68" (non-commercial model)
        min_face: int = 0,  # smallest face quad side wanted (px); larger = faster detection
        threshold: float = 0.5,  # detector score below which a hit is ignored
    ) -> None:
        try:
            import dlib
        except ImportError:
            raise DatasetError(
                "--align face needs the face extra: pip install 'zizi[faces]' "
                "(dlib-bin + face_recognition_models)"
            ) from None
        folder = _models_dir()
        if folder is None:
            raise DatasetError(
                "face landmark models not found: pip install 'zizi[faces]' "
                "(face_recognition_models)"
            )
        self.landmarks = landmarks
        self.threshold = threshold
        # dlib's HOG window is 80 px; with one 2× upsample it finds faces down to ~40 px.
        # A face's detector box is about half its FFHQ quad, so when only large faces are
        # wanted the detector can run on a smaller copy: ~4× faster for 1024² photos.
        smallest_box = 0.5 * min_face
        if smallest_box >= 80:
            self.upsample, self.detect_scale = 0, 80 / smallest_box
        else:
            self.upsample, self.detect_scale = 1, min(1.0, 40 / max(smallest_box, 1))
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(folder / _MODEL_FILES[landmarks]))
        self._dlib = dlib

    def find(self, im: Image.Image) -> list[Face]:
        """All faces in an RGB image, largest first."""
        import numpy as np
        from PIL import Image

        arr = np.asarray(im)  # [H, W, 3] uint8
        scale = self.detect_scale
        small = arr
        if scale < 1.0:
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            small = np.asarray(im.resize(size, Image.Resampling.BILINEAR))
        rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            if score < self.threshold:
                continue
            box = tuple(
                int(round(v / scale))
                for v in (rect.left(), rect.top(), rect.right(), rect.bottom())
            )
            drect = self._dlib.rectangle(*box)
            pts = np.array([(p.x, p.y) for p in self._predictor(arr, drect).parts()], float)
            faces.append(_face_from_points(pts, float(score), box))
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]))
        return faces


def _face_from_points(pts: np.ndarray, score: float, box: tuple[int, ...]) -> Face:
    import numpy as np

    if len(pts) == 68:
        eyes = sorted([pts[36:42].mean(0), pts[42:48].mean(0)], key=lambda p: p[0])
        mouth = (pts[48] + pts[54]) / 2
    else:  # 5 points: two corners per eye, then the base of the nose
        eyes = sorted([pts[0:2].mean(0), pts[2:4].mean(0)], key=lambda p: p[0])
        eye_avg = (eyes[0] + eyes[1]) / 2
        mouth = eye_avg + MOUTH_FROM_NOSE * (pts[4] - eye_avg)
    return Face(
        eye_left=tuple(map(float, eyes[0])),
        eye_right=tuple(map(float, eyes[1])),
        mouth=tuple(map(float, np.asarray(mouth))),
        score=score,
        box=tuple(box),
    )


def ffhq_quad(face: Face) -> np.ndarray:
    """The oriented crop quad [4, 2] (top-left, bottom-left, bottom-right, top-right)."""
    import numpy as np

    eye_left, eye_right = np.array(face.eye_left), np.array(face.eye_right)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = np.array(face.mouth) - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_size(quad: np.ndarray) -> float:
    """Side length of the quad in source pixels."""
    import numpy as np

    return float(np.hypot(*(quad[3] - quad[0])))


def align(im: Image.Image, quad: np.ndarray, resolution: int) -> Image.Image:
    """Crop the quad out of `im` as a `resolution`² image, FFHQ style."""
    import numpy as np
    from PIL import Image, ImageFilter

    quad = np.array(quad, dtype=np.float64)
    qsize = quad_size(quad)

    # Shrink: when the face is much larger than the output, downscale first (quality and speed).
    shrink = int(np.floor(qsize / resolution * 0.5))
    if shrink > 1:
        rsize = (int(np.rint(im.width / shrink)), int(np.rint(im.height / shrink)))
        im = im.resize(rsize, Image.Resampling.LANCZOS, reducing_gap=3.0)
        quad /= shrink
        qsize /= shrink

    # Crop to the quad's bounds plus a 10% border.
    border = max(int(np.rint(qsize * 0.1)), 3)
    lo, hi = np.floor(quad.min(0)).astype(int), np.ceil(quad.max(0)).astype(int)
    crop = (
        max(lo[0] - border, 0),
        max(lo[1] - border, 0),
        min(hi[0] + border, im.width),
        min(hi[1] + border, im.height),
    )
    if crop[2] - crop[0] < im.width or crop[3] - crop[1] < im.height:
        im = im.crop(crop)
        quad -= crop[0:2]

    # Reflect-pad where the quad leaves the image, blurring and fading to the median colour
    # towards the edge so that the mirror seam does not read as a second face.
    lo, hi = np.floor(quad.min(0)).astype(int), np.ceil(quad.max(0)).astype(int)
    pad = [
        max(-lo[0] + border, 0),
        max(-lo[1] + border, 0),
        max(hi[0] - im.width + border, 0),
        max(hi[1] - im.height + border, 0),
    ]
    if max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        arr = np.asarray(im, dtype=np.float32)
        # "reflect" repeats the mirror for pads longer than the image, as FFHQ does.
        arr = np.pad(arr, ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = arr.shape
        yy, xx, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(
            1.0
            - np.minimum(xx.astype(np.float32) / pad[0], (w - 1 - xx).astype(np.float32) / pad[2]),
            1.0
            - np.minimum(yy.astype(np.float32) / pad[1], (h - 1 - yy).astype(np.float32) / pad[3]),
        )
        blur_radius = qsize * 0.02
        as_img = Image.fromarray(np.uint8(np.clip(np.rint(arr), 0, 255)))
        blurred = np.asarray(as_img.filter(ImageFilter.GaussianBlur(blur_radius)), np.float32)
        arr += (blurred - arr) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        arr += (np.median(arr, axis=(0, 1)) - arr) * np.clip(mask, 0.0, 1.0)
        im = Image.fromarray(np.uint8(np.clip(np.rint(arr), 0, 255)), "RGB")
        quad += pad[:2]

    # Transform: bilinear at up to 4× the output, then Lanczos down (FFHQ uses 4096 → 1024).
    transform_size = int(min(4 * resolution, max(resolution, np.ceil(qsize))))
    out = im.transform(
        (transform_size, transform_size),
        Image.Transform.QUAD,
        tuple((quad + 0.5).flatten()),
        Image.Resampling.BILINEAR,
    )
    if transform_size != resolution:
        out = out.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return out
