"""`generate --grid` keeps thumbnails, not every image (#13: 100k seeds must not hold them all)."""

import numpy as np

from zizi.render.images import ThumbnailGrid, make_grid


def test_small_grids_equal_make_grid():
    imgs = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)
    g = ThumbnailGrid(5, 8, 8, 3)
    g.add(imgs[:2])
    g.add(imgs[2:])
    assert np.array_equal(g.grid, make_grid(imgs))


def test_many_images_stay_within_the_bound():
    g = ThumbnailGrid(10_000, 64, 64, 3, max_side=512)
    assert g.grid.shape[0] <= 512 and g.grid.shape[1] <= 512
    img = np.full((1, 64, 64, 3), 200, dtype=np.uint8)
    for _ in range(100):
        g.add(img)
    assert g.count == 100 and g.grid[: g.th, : g.tw].min() == 200 and g.grid[-1, -1].max() == 0


def test_provenance_finds_the_runs_dataset_manifest(tmp_path):
    import hashlib

    from zizi.render.provenance import dataset_manifest_sha256

    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "manifest.json").write_text('{"images": []}')
    run = tmp_path / "run"
    run.mkdir()
    assert dataset_manifest_sha256(run, [{}]) is None
    (run / "config.yaml").write_text(f"train: {{kimg: 1}}\ndata: {tmp_path / 'faces'}\n")
    want = hashlib.sha256(b'{"images": []}').hexdigest()
    assert dataset_manifest_sha256(run, [{}]) == want
    assert dataset_manifest_sha256(None, [{"dataset_manifest_sha256": "ab"}]) == "ab"


def test_walk_keyframes_from_seeds():
    import torch

    from zizi.latents import z_for_seeds
    from zizi.render.walks import keyframe_seeds, keyframe_z

    assert keyframe_seeds([5, 6], 2, 4) == [5, 6]  # one seed per face: keyframes derived from it
    assert keyframe_seeds([1, 2, 3, 4, 5, 6], 2, 3) == [[1, 2, 3], [4, 5, 6]]  # K seeds per face
    z = keyframe_z([5, 6], 2, 4, 8)
    assert z.shape == (2, 4, 8) and torch.equal(z[:, 0], z_for_seeds([5, 6], 8))
    assert torch.equal(keyframe_z([5, 6], 2, 4, 8), z)  # deterministic
    assert not torch.equal(z[0, 1], z[0, 2]) and not torch.equal(z[0, 1], z[1, 1])
    z2 = keyframe_z([1, 2, 3, 4, 5, 6], 2, 3, 8)
    assert torch.equal(z2[1], z_for_seeds([4, 5, 6], 8))
