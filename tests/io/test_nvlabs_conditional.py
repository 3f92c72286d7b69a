"""Conditional NVIDIA pickles (c_dim > 0): label embedding in G, projection in D."""

import torch

from tests.helpers.nvlabs_writer import write_nvlabs_pickle
from tests.helpers.tiny import tiny_modules
from zizi.io.checkpoint import (
    build_discriminator,
    build_generator,
    load_checkpoint,
    save_checkpoint,
)
from zizi.io.importers import import_checkpoint


def test_conditional_round_trip(tmp_path):
    torch.manual_seed(0)
    G, D = (net.eval() for net in tiny_modules(16, c_dim=3))
    with torch.no_grad():  # move every weight off its init so biases and gains matter
        for p in [*G.parameters(), *D.parameters()]:
            p.add_(torch.randn_like(p) * 0.3)
        G.mapping.w_avg.normal_()
    src = write_nvlabs_pickle(tmp_path / "cond.pkl", G, D)
    ckpt = import_checkpoint(src)
    assert ckpt.g_config == G.cfg and ckpt.d_config.c_dim == 3
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "cond.safetensors", ckpt))
    z, c = torch.randn(3, 8), torch.eye(3)
    with torch.no_grad():
        img = G(z, c, truncation_psi=0.7)
        assert torch.equal(build_generator(ckpt)(z, c, truncation_psi=0.7), img)
        assert torch.equal(build_discriminator(ckpt)(img, c), D(img, c))
