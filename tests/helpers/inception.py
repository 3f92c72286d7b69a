"""Stand-ins for NVIDIA's Inception detector files: its TorchScript interface on a tiny
net, and a torch_utils.persistence record as NVIDIA pickles one."""

from __future__ import annotations

import pickle

import torch
import torch.nn.functional as F
from torch import nn


class NvidiaLikeInception(nn.Module):
    """The interface of NVIDIA's TorchScript detector: uint8 pixels in, resize and
    normalise inside, `return_features=True` gives [N, 2048], else 1008 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 2048)
        self.output = nn.Linear(2048, 1008)

    def forward(
        self,
        img: torch.Tensor,
        return_features: bool = False,
        use_fp16: bool = False,
        no_output_bias: bool = False,
    ) -> torch.Tensor:
        x = img.to(torch.float32)
        x = F.interpolate(x, size=(29, 29), mode="bilinear", align_corners=False)
        x = (x - 128) / 128
        feats = self.fc(F.relu(self.conv(x)).mean(dim=(2, 3)))
        if return_features:
            return feats
        return self.output(feats)


def persistence_pickle(state: dict) -> bytes:
    """A torch_utils.persistence record as NVIDIA writes them, its module_src inert."""
    from tests.helpers.nvlabs_writer import _install_fake_module, _Record

    _install_fake_module()
    meta = {
        "type": "class",
        "version": 4,
        "module_src": "raise SystemExit('never run')",
        "class_name": "InceptionDetector",
        "state": state,
    }
    return pickle.dumps(_Record(meta), protocol=4)
