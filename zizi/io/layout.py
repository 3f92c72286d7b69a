"""Architecture facts read back from NVIDIA-named state dicts (shared by the importers).

Foreign formats store weights but not always the settings that produced them, so the
importers infer resolution and the channel schedule from tensor shapes, then let
`check_shapes` confirm that a network of the inferred config has exactly those tensors.
"""

from __future__ import annotations

from collections.abc import Mapping

from zizi.errors import CheckpointError


def channel_schedule(channels: Mapping[int, int], where: str) -> tuple[int, int]:
    """(channel_base, channel_max) such that min(base // r, max) reproduces `channels`.

    The top channel count is `channel_max`; the lowest resolution with fewer channels pins
    `channel_base` (= channels · r). With no such resolution any base ≥ max · r_top fits,
    and the smallest is chosen.
    """
    cmax = max(channels.values())
    below = sorted(r for r, c in channels.items() if c < cmax)
    base = channels[below[0]] * below[0] if below else cmax * max(channels)
    for r, c in channels.items():
        if min(base // r, cmax) != c:
            shown = ", ".join(f"{r}²:{c}" for r, c in sorted(channels.items()))
            raise CheckpointError(
                f"{where}: channel counts per resolution ({shown}) do not follow "
                "StyleGAN2's min(channel_base // r, channel_max) schedule"
            )
    return base, cmax


def generator_channels(sd: Mapping[str, object]) -> dict[int, int]:
    """Channels per resolution of an NVIDIA-named generator state dict (from torgb)."""
    out = {}
    for name, t in sd.items():
        if name.startswith("synthesis.b") and name.endswith(".torgb.weight"):
            res = int(name.split(".")[1][1:])
            out[res] = int(t.shape[1])
    return out


def discriminator_channels(sd: Mapping[str, object]) -> dict[int, int]:
    """Channels per resolution of an NVIDIA-named discriminator state dict."""
    out = {}
    for name, t in sd.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[1] == "conv0" and parts[2] == "weight":
            out[int(parts[0][1:])] = int(t.shape[0])
    if "b4.conv.weight" in sd:
        out[4] = int(sd["b4.conv.weight"].shape[0])
    return out


def pick_nets(nets: dict, which: str | None, where: str) -> dict:
    """Keep one generator when `which` names it ('G_ema'/'g_ema' or 'G'/'g'), plus D."""
    if which is None:
        return nets
    key = {"g_ema": "G_ema", "g": "G", "d": "D"}.get(which.lower(), which)
    if key not in nets:
        raise CheckpointError(f"{where} has no {which} (it has {', '.join(nets)})")
    return {key: nets[key], **({"D": nets["D"]} if "D" in nets and key != "D" else {})}
