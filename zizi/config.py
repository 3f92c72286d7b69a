"""Typed configuration: the schema and defaults of every network and run.

Dataclasses define the fields; YAML files and checkpoint JSON only set values. Unknown
keys are errors with a "did you mean" hint, so a typo never silently falls back.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from zizi.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class MappingConfig:
    num_layers: int = 8  # dense layers z -> w (config-f: 8)
    lr_multiplier: float = 0.01  # equalised-lr multiplier; slows the mapping net 100x (StyleGAN §C)
    w_avg_beta: float | None = 0.995  # EMA decay of w_avg for truncation; None disables tracking
    layer_features: int | None = None  # hidden width; None = w_dim
    embed_features: int | None = None  # label embedding width when c_dim > 0; None = w_dim
    activation: str = "lrelu"


@dataclass(frozen=True)
class GeneratorConfig:
    z_dim: int = 512  # latent z size
    c_dim: int = 0  # conditioning label size; 0 = unconditional
    w_dim: int = 512  # intermediate latent w size
    img_resolution: int = 1024  # output size, a power of two in 4..1024
    img_channels: int = 3
    channel_base: int = 32768  # channels at resolution r = min(channel_base // r, channel_max)
    channel_max: int = 512
    num_fp16_res: int = 0  # fp16 on the top N resolutions (CUDA only; CPU always runs fp32)
    conv_clamp: float | None = None  # clamp activations to ±this (needed with fp16; 256 in ADA)
    mapping: MappingConfig = field(default_factory=MappingConfig)

    def __post_init__(self) -> None:
        _check_resolution(self.img_resolution)
        for name in ("z_dim", "w_dim", "img_channels", "channel_base", "channel_max"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"generator {name} must be positive, got {getattr(self, name)}")
        if self.z_dim == 0 and self.c_dim == 0:
            raise ConfigError("generator needs z_dim > 0 or c_dim > 0")

    @property
    def num_ws(self) -> int:
        """Number of w vectors the synthesis network reads (2·log2(res) − 2)."""
        return 2 * self.img_resolution.bit_length() - 4

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)


@dataclass(frozen=True)
class DiscriminatorConfig:
    c_dim: int = 0
    img_resolution: int = 1024
    img_channels: int = 3
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    cmap_dim: int | None = None  # label projection width when c_dim > 0; None = channels at 4²
    mbstd_group_size: int | None = 4  # minibatch-stddev group; None = whole minibatch
    mbstd_num_channels: int = 1
    mapping: MappingConfig = field(
        default_factory=lambda: MappingConfig(w_avg_beta=None)
    )  # label mapping for conditional D (unused when c_dim == 0)

    def __post_init__(self) -> None:
        _check_resolution(self.img_resolution)
        if self.img_resolution < 8:
            raise ConfigError("discriminator resolution must be at least 8")

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)


def _check_resolution(res: int) -> None:
    if not isinstance(res, int) or res < 4 or res > 4096 or res & (res - 1):
        raise ConfigError(f"resolution must be a power of two between 4 and 4096, got {res!r}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-able data."""
    return dataclasses.asdict(obj)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build a config dataclass from plain data; unknown keys raise with a suggestion."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            hint = difflib.get_close_matches(key, fields, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{where}: unknown key {key!r}{extra}")
        ftype = fields[key].type
        sub = _dataclass_for(ftype)
        kwargs[key] = from_dict(sub, value, f"{where}.{key}") if sub and isinstance(value, dict) else value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from e


def _dataclass_for(ftype: Any) -> type | None:
    name = ftype if isinstance(ftype, str) else getattr(ftype, "__name__", "")
    return {"MappingConfig": MappingConfig}.get(name)


def load_yaml(path: str | Path, cls: type[T]) -> T:
    """A config dataclass from a YAML file; unknown keys are errors with a suggestion."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    return from_dict(cls, data, where=str(path))
