"""Typed configuration: the schema and defaults of every network and run.

Dataclasses define the fields; YAML files and checkpoint JSON only set values. Unknown
keys are errors with a "did you mean" hint, so a typo never silently falls back.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from zizi.errors import ConfigError

T = TypeVar("T")

# Activation names the networks know (zizi.ops.bias_act.ACTIVATIONS; a test keeps the two
# equal). Listed here so a config can be checked without importing torch.
ACTIVATIONS = ("linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish")

# Bounds on every field. Configs arrive from files made by others (checkpoint headers,
# YAML), and each number sizes an allocation or a loop, so an absurd value must be refused
# before anything is built. They are generous: config-f uses 512 / 32768 / 8 layers.
MAX_WIDTH = 8192  # z_dim, w_dim, channel_max, layer/embed features, cmap_dim (16x config-f)
MAX_CHANNEL_BASE = 1 << 20  # 32x config-f's 32768
MAX_LABELS = 100_000  # c_dim: ImageNet has 1000 classes
MAX_MAPPING_LAYERS = 64  # config-f: 8
MAX_IMG_CHANNELS = 4  # grey, RGB, RGBA
MAX_MBSTD_GROUP = 1024


def _int_field(obj: Any, name: str, lo: int, hi: int, where: str, optional: bool = False) -> None:
    """Check that `obj.name` is an integer in [lo, hi] (or None when optional); store it as int."""
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{where} {name} must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where} {name} must be between {lo} and {hi}, got {value}")
    object.__setattr__(obj, name, int(value))


def _float_field(
    obj: Any,
    name: str,
    lo: float,
    hi: float,
    where: str,
    optional: bool = False,
    open_low: bool = False,
) -> None:
    """Check that `obj.name` is a finite number in [lo, hi] ((lo, hi] when open_low)."""
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{where} {name} must be a finite number, got {value!r}")
    if value < lo or value > hi or (open_low and value == lo):
        low = f"above {lo}" if open_low else f"at least {lo}"
        raise ConfigError(f"{where} {name} must be {low} and at most {hi}, got {value}")
    object.__setattr__(obj, name, float(value))


@dataclass(frozen=True)
class MappingConfig:
    num_layers: int = 8  # dense layers z -> w (config-f: 8)
    lr_multiplier: float = 0.01  # equalised-lr multiplier; slows the mapping net 100x (StyleGAN §C)
    w_avg_beta: float | None = 0.995  # EMA decay of w_avg for truncation; None disables tracking
    layer_features: int | None = None  # hidden width; None = w_dim
    embed_features: int | None = None  # label embedding width when c_dim > 0; None = w_dim
    activation: str = "lrelu"  # StyleGAN2: leaky ReLU 0.2 with gain sqrt(2)

    def __post_init__(self) -> None:
        where = "mapping"
        _int_field(self, "num_layers", 0, MAX_MAPPING_LAYERS, where)
        _float_field(self, "lr_multiplier", 0.0, 1e4, where, open_low=True)
        _float_field(self, "w_avg_beta", 0.0, 1.0, where, optional=True)
        _int_field(self, "layer_features", 1, MAX_WIDTH, where, optional=True)
        _int_field(self, "embed_features", 1, MAX_WIDTH, where, optional=True)
        if self.activation not in ACTIVATIONS:
            hint = difflib.get_close_matches(str(self.activation), ACTIVATIONS, n=1)
            extra = (
                f" (did you mean {hint[0]!r}?)"
                if hint
                else f"; choose one of {', '.join(ACTIVATIONS)}"
            )
            raise ConfigError(f"mapping activation {self.activation!r} is unknown{extra}")


@dataclass(frozen=True)
class GeneratorConfig:
    z_dim: int = 512  # latent z size
    c_dim: int = 0  # conditioning label size; 0 = unconditional
    w_dim: int = 512  # intermediate latent w size
    img_resolution: int = 1024  # output size, a power of two in 4..1024
    img_channels: int = 3
    channel_base: int = 32768  # channels at resolution r = min(channel_base // r, channel_max)
    channel_max: int = 512
    num_fp16_res: int = (
        0  # top N resolutions in reduced precision (--precision; auto: fp16 on CUDA)
    )
    conv_clamp: float | None = None  # clamp activations to ±this (needed with fp16; 256 in ADA)
    mapping: MappingConfig = field(default_factory=MappingConfig)

    def __post_init__(self) -> None:
        _check_resolution(self.img_resolution)
        _check_common(self, "generator")
        _int_field(self, "z_dim", 1, MAX_WIDTH, "generator")
        _int_field(self, "w_dim", 1, MAX_WIDTH, "generator")
        if not isinstance(self.mapping, MappingConfig):
            raise ConfigError(
                f"generator mapping must be a mapping of settings, got {self.mapping!r}"
            )
        if self.mapping.num_layers < 1:
            raise ConfigError("generator mapping num_layers must be at least 1")

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
        _check_common(self, "discriminator")
        _int_field(self, "cmap_dim", 1, MAX_WIDTH, "discriminator", optional=True)
        _int_field(self, "mbstd_group_size", 1, MAX_MBSTD_GROUP, "discriminator", optional=True)
        _int_field(self, "mbstd_num_channels", 0, 64, "discriminator")
        if self.mbstd_num_channels and self.channels(4) % self.mbstd_num_channels:
            raise ConfigError(
                f"discriminator mbstd_num_channels {self.mbstd_num_channels} must divide "
                f"the {self.channels(4)} channels at 4x4"
            )
        if not isinstance(self.mapping, MappingConfig):
            raise ConfigError(
                f"discriminator mapping must be a mapping of settings, got {self.mapping!r}"
            )

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)


def _check_resolution(res: int) -> None:
    if (
        isinstance(res, bool)
        or not isinstance(res, int)
        or res < 4
        or res > 4096
        or res & (res - 1)
    ):
        raise ConfigError(f"resolution must be a power of two between 4 and 4096, got {res!r}")


def _check_common(cfg: GeneratorConfig | DiscriminatorConfig, where: str) -> None:
    """The fields generator and discriminator share."""
    _int_field(cfg, "c_dim", 0, MAX_LABELS, where)
    _int_field(cfg, "img_channels", 1, MAX_IMG_CHANNELS, where)
    _int_field(cfg, "channel_base", 1, MAX_CHANNEL_BASE, where)
    _int_field(cfg, "channel_max", 1, MAX_WIDTH, where)
    _int_field(cfg, "num_fp16_res", 0, 12, where)  # 12 resolutions from 4² to 4096² at most
    _float_field(cfg, "conv_clamp", 0.0, 1e6, where, optional=True, open_low=True)
    if cfg.channels(cfg.img_resolution) < 1:
        raise ConfigError(
            f"{where} has no channels at {cfg.img_resolution}x{cfg.img_resolution}: "
            f"channel_base {cfg.channel_base} is smaller than the resolution"
        )


def to_dict(obj: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-able data."""
    return dataclasses.asdict(obj)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config", typed: bool = True) -> T:
    """Build a config dataclass from plain data; unknown keys raise with a suggestion.

    Nested dataclasses are found from the fields' type hints (`mapping: MappingConfig`,
    `augment: AugmentConfig | None`), so any config dataclass can nest any other.
    `typed`: numbers may come as text, as people type them in YAML and `--set`; a file
    zizi wrote itself (a checkpoint's header) passes False, so a number stored as text
    there is a damaged or crafted file, refused where the fields are checked.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, fields)}")
        sub = _dataclass_in(hints.get(key))
        if sub and isinstance(value, dict):
            kwargs[key] = from_dict(sub, value, f"{where}.{key}", typed)
        else:
            kwargs[key] = _as_number(value, hints.get(key), f"{where}: {key}") if typed else value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from e


def _as_number(value: Any, hint: Any, where: str) -> Any:
    """A value for a numeric field in the forms people type: YAML 1.1 reads `1e-8` (no
    dot) and `1_000` as text, `--set batch=32.0` is a float; all become the field's number.
    Values of other fields, and numbers already of the right kind, pass unchanged."""
    kinds = set(typing.get_args(hint)) - {type(None)} or {hint}
    if not kinds <= {int, float} or value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip().replace("_", ""))
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        if float in kinds:
            return value
    if kinds == {int} and isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return int(value)
    return value


def did_you_mean(key: str, choices: Any) -> str:
    """'; did you mean 'x'?' for the closest of `choices`, or ''."""
    hint = difflib.get_close_matches(key, list(choices), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def _field_types(cls: type) -> dict[str, Any]:
    import sys

    module = sys.modules.get(cls.__module__)
    return typing.get_type_hints(cls, vars(module) if module else None)


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a type hint names: `X`, `X | None` or `Optional[X]`."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    found = [
        a for a in typing.get_args(hint) if dataclasses.is_dataclass(a) and isinstance(a, type)
    ]
    return found[0] if len(found) == 1 else None


def merge_dicts(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, recursing into nested mappings (neither is changed)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = (
            merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def parse_assignment(text: str) -> dict[str, Any]:
    """'a.b=3' -> {'a': {'b': 3}}; the value is read as YAML (numbers, true, null, lists)."""
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. --set loss.r1_gamma=2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({e})") from e
    out: dict[str, Any] = {}
    cur = out
    parts = key.split(".")
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file (empty file = {}); a missing or broken file is a ConfigError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys to values, got {type(data).__name__}"
        )
    return data


def load_yaml(path: str | Path, cls: type[T]) -> T:
    """A config dataclass from a YAML file; unknown keys are errors with a suggestion."""
    return from_dict(cls, read_yaml(path), where=str(Path(path)))
