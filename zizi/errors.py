"""Exceptions whose messages a person can act on.

The library raises these; the CLI prints their message on one line (no traceback) and
exits non-zero. Anything else escaping to the CLI is a bug in zizi.
"""


class ZiziError(Exception):
    """Base class: a problem with the user's input or environment, with a clear message."""


class CheckpointError(ZiziError):
    """A checkpoint file is missing, unreadable, truncated or of an unknown format."""


class WrongFormatError(CheckpointError):
    """A file is a different kind of file than the command takes (a usage mistake)."""


class UnsafePickleError(CheckpointError):
    """A pickle asked for a global outside the allow-list; nothing was executed."""


class ConfigError(ZiziError):
    """A configuration value or key is invalid."""


class DatasetError(ZiziError):
    """A dataset folder or image is unusable."""


class DownloadError(ZiziError):
    """A download failed, was cut off, or did not match its expected size or hash."""


class OpsBuildError(ZiziError):
    """A custom CUDA op could not be built (with ZIZI_OPS=cuda)."""


class OpsCheckError(OpsBuildError):
    """A built CUDA op disagreed with its PyTorch reference (with ZIZI_OPS=cuda)."""
