"""What a SeFa directions file hands on: a direction found in some layers moves only those.

`factorize` stacks the chosen blocks' affines, and the walk adds each direction to the ws
the file lists; if the list named other ws than the chosen blocks read (all of them, say),
a "coarse" direction would also push the fine layers along a vector found for other
affines. The test perturbs exactly the ws the file names and watches every style affine.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers.cli import invoke
from tests.helpers.tiny import tiny_checkpoint
from zizi.io.checkpoint import build_generator
from zizi.render.directions import factorize


@pytest.mark.parametrize(
    "layers, blocks", [("b8", {"b8"}), ("b4", {"b4"}), ("b8-b16", {"b8", "b16"})]
)
def test_a_directions_ws_reach_only_the_layers_it_was_found_in(layers, blocks):
    ck = tiny_checkpoint(16, seed=2)
    G = build_generator(ck)
    d = factorize(ck.tensors["G_ema"], 16, layers)
    assert d.meta["blocks"] == sorted(blocks, key=lambda b: int(b[1:]))
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, i[0].clone()))
        for n, m in G.synthesis.named_modules()
        if n.endswith("affine")
    ]
    ws = torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        G.synthesis(ws, noise_mode="const")
        base = dict(seen)
        moved = ws.clone()
        moved[:, d.ws] += 3 * d.vectors[0]
        G.synthesis(moved, noise_mode="const")
    for h in hooks:
        h.remove()
    changed = {
        n.split(".")[0] for n in seen if not torch.equal(seen[n], base[n]) and "torgb" not in n
    }
    assert changed == blocks


def test_a_walk_along_a_direction_moves_only_its_layers_ws(tmp_path):
    """`render walk --direction` adds the direction to the ws its layers read and no others:
    its first frame is `synthesize` of exactly those ws (a walk that pushed every w along a
    b8 direction would draw another face)."""
    import numpy as np
    from PIL import Image

    from zizi.io.checkpoint import save_checkpoint
    from zizi.render.batches import synthesize
    from zizi.render.directions import amount_at, directions_of
    from zizi.render.walks import keyframe_z

    ck_path = save_checkpoint(tmp_path / "g.safetensors", tiny_checkpoint(16, seed=2))
    dirs = tmp_path / "d.safetensors"
    r = invoke("directions", ck_path, "--out", dirs, "--layers", "b8")
    assert r.exit_code == 0, r.output
    out, n, amount = tmp_path / "walk", 5, 4.0
    r = invoke(
        "render",
        "walk",
        ck_path,
        "--directions",
        dirs,
        "--direction",
        "0",
        "--amount",
        amount,
        "--frames",
        n,
        "--seeds",
        "7",
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    got = np.asarray(Image.open(out / "frame000000.png").convert("RGB"))

    G = build_generator(tiny_checkpoint(16, seed=2))
    d = directions_of(ck_path, "b8")
    with torch.no_grad():
        w = G.mapping(keyframe_z([7], 1, 1, G.z_dim)[:, 0], None)
    a = amount_at(0, n, amount, loop=False, symmetric=True, easing="smooth")
    assert a != 0
    only = w.clone()
    only[:, d.ws] += a * d.vectors[0]
    everywhere = w + a * d.vectors[0]
    assert np.array_equal(got, synthesize(G, ws=only)[0])
    assert not np.array_equal(got, synthesize(G, ws=everywhere)[0])
