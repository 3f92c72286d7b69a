"""zizi: fine-tune StyleGAN2 face generators on curated image folders and render video.

Importing this package is instant: it imports neither torch nor numpy. Import the
sub-packages (`zizi.nets`, `zizi.io`, ...) for the library.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zizi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
