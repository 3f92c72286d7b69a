"""Runtime settings chosen once, by the CLI, never at import time."""

from __future__ import annotations

from typing import Literal

from zizi.errors import ZiziError

DeviceChoice = Literal["auto", "cpu", "cuda"]


def select_device(choice: str = "auto"):
    """The torch device for `--device auto|cpu|cuda[:N]`; configures it for speed."""
    import torch

    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ZiziError("--device cuda was asked for, but torch sees no CUDA GPU "
                            "(run `zizi doctor`, or use --device cpu)")
        # TF32 matmuls/convs: ~free speed on Ampere+, well inside GAN noise.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    elif choice != "cpu":
        raise ZiziError(f"unknown device {choice!r}; use auto, cpu or cuda")
    return torch.device(choice)


def deterministic_kernels(device) -> None:
    """Pick convolution kernels by rule, not by timing (cudnn.benchmark), so that every
    process draws the same pixels for the same frame: a render split over many GPUs must
    equal a one-process render, frame for frame."""
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
