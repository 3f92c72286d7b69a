"""Building, caching and choosing the custom CUDA ops.

A plugin is JIT-built once with `torch.utils.cpp_extension` and ninja into a cache folder
keyed by everything that changes the binary (sources, torch, CUDA, GPU architecture,
flags). The build runs in a temporary folder that is moved into place with one
`os.replace`, so a half-finished build is never loaded. A lock file naming its owner
(pid, host, time: `zizi.files.FileLock`) serialises builds across processes (DDP ranks
build once) and is taken over when its owner is dead or it is older than a timeout, so a
Ctrl-C mid-build cannot make the next run hang.

A built kernel is trusted only after it has checked itself against its reference on
the device (`zizi.ops._selfcheck`): the first use on each device in a process runs the
check, or reads its cached verdict beside the built kernel.

`ZIZI_OPS` chooses, read when an op is first used on a CUDA tensor:
  auto  use the kernel; if it cannot be built, or it disagrees with its reference, warn
        once (why, log path, how to fix) and use the PyTorch reference;
  cuda  use the kernel; a failed build raises OpsBuildError and a failed check
        OpsCheckError, each with its log's path;
  ref   always use the PyTorch reference.
CPU tensors always use the reference: the kernels are CUDA-only.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Literal

import torch

from zizi.errors import OpsBuildError, OpsCheckError, ZiziError
from zizi.files import FileLock as _FileLock
from zizi.ops import _selfcheck

Mode = Literal["auto", "cuda", "ref"]
MODES: tuple[Mode, ...] = ("auto", "cuda", "ref")
BUILD_FORMAT = 1  # bump when the cache layout or build recipe changes
OPS_DIR = Path(__file__).resolve().parent
# headers every op includes; hashed into each op's cache key
SHARED_HEADERS = (OPS_DIR / "_dtype.h", OPS_DIR / "_elementwise.cuh", OPS_DIR / "_binding.h")


def ops_mode() -> Mode:
    """The `ZIZI_OPS` setting; unknown values are an error, not a silent default."""
    mode = os.environ.get("ZIZI_OPS", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise OpsBuildError(f"ZIZI_OPS={mode!r} is not one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def cache_root() -> Path:
    """`$ZIZI_CACHE/ops`, else `~/.cache/zizi/ops`."""
    base = os.environ.get("ZIZI_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "zizi") / "ops"


def gpu_arch() -> str:
    """The architectures to build for, as `8.0;9.0+PTX`, or `none` without a GPU.

    `TORCH_CUDA_ARCH_LIST` when set (as torch's own extension builds read it), else the
    compute capabilities of every visible GPU. It goes into the cache key and, as
    -gencode flags, to nvcc: a binary that lacks the GPU's architecture would build fine
    and then fail at launch with "no kernel image is available".
    """
    env = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if env:
        return ";".join(a for a in env.replace(" ", ";").split(";") if a)
    if not torch.cuda.is_available():
        return "none"
    caps = sorted({torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
    return ";".join(f"{major}.{minor}" for major, minor in caps)


def arch_flags(archs: str) -> list[str]:
    """nvcc -gencode flags for `8.0;9.0+PTX` (also `sm_90`, `9.0a`); PTX of the newest.

    Each listed architecture gets its own SASS; the newest also gets PTX (as does any
    entry marked +PTX), so a GPU newer than every entry can still JIT the kernels.
    """
    if archs in ("", "none"):
        return []
    parsed: list[tuple[str, bool]] = []
    for item in archs.split(";"):
        item = item.strip()
        ptx = item.endswith("+PTX")
        item = item.removesuffix("+PTX").removeprefix("sm_").replace(".", "")
        if not item or not item[:2].isdigit():
            raise OpsBuildError(
                f"cannot read the CUDA architecture {item!r} in {archs!r} "
                "(TORCH_CUDA_ARCH_LIST takes entries like 8.0;9.0+PTX)"
            )
        parsed.append((item, ptx))
    newest = max(parsed, key=lambda a: int("".join(c for c in a[0] if c.isdigit())))[0]
    flags = []
    for num, ptx in parsed:
        flags.append(f"-gencode=arch=compute_{num},code=sm_{num}")
        if ptx or num == newest:
            flags.append(f"-gencode=arch=compute_{num},code=compute_{num}")
    return list(dict.fromkeys(flags))


def nvcc_version(nvcc: str | None = None) -> tuple[int, int] | None:
    """(major, minor) of the nvcc that would build the ops, or None if there is none."""
    import re
    import subprocess

    from torch.utils import cpp_extension

    if nvcc is None:
        home = cpp_extension.CUDA_HOME
        nvcc = str(Path(home) / "bin" / "nvcc") if home else shutil.which("nvcc")
    if not nvcc:
        return None
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_toolkit(version: tuple[int, int] | None = None, torch_cuda: str | None = None) -> None:
    """Refuse, before building, an nvcc whose major version differs from torch's CUDA.

    torch's headers and runtime come from its own CUDA; objects from another major
    version fail to link or, worse, to launch. One clear line instead of a build log.
    """
    torch_cuda = torch.version.cuda if torch_cuda is None else torch_cuda
    version = nvcc_version() if version is None else version
    if torch_cuda is None:
        raise OpsBuildError(
            f"this torch ({torch.__version__}) was built without CUDA, so the "
            "CUDA ops cannot be built; install a CUDA build of torch"
        )
    if version is None:
        raise OpsBuildError(
            "nvcc was not found (set CUDA_HOME or put nvcc on PATH), so the "
            "CUDA ops cannot be built"
        )
    if version[0] != int(torch_cuda.split(".")[0]):
        raise OpsBuildError(
            f"nvcc is CUDA {version[0]}.{version[1]} but torch {torch.__version__} was built "
            f"with CUDA {torch_cuda}; install the CUDA {torch_cuda.split('.')[0]}.x toolkit "
            "(or point CUDA_HOME at it) so the ops match torch"
        )


def cache_key(
    sources: Sequence[Path],
    flags: Sequence[str] = (),
    arch: str | None = None,
) -> str:
    """sha256 over the sources' names and bytes, torch and CUDA versions, arch and flags."""
    h = hashlib.sha256()
    for part in (
        f"format={BUILD_FORMAT}",
        f"torch={torch.__version__}",
        f"cuda={torch.version.cuda}",
        f"arch={gpu_arch() if arch is None else arch}",
        f"python={sys.version_info[:2]}",
        *flags,
    ):
        h.update(part.encode() + b"\0")
    for src in sorted(Path(s) for s in sources):
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- lock


@dataclass
class FileLock(_FileLock):
    """The build lock: `zizi.files.FileLock` raising OpsBuildError."""

    error: type[ZiziError] = OpsBuildError
    what: str = "build lock"


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class BuildSpec:
    """What to build: an extension module from sources in zizi/ops (or tests)."""

    name: str  # stem, e.g. "bias_act"; the module is named zizi_<name>_<key>
    sources: tuple[Path, ...]  # compiled sources (.cpp, .cu)
    headers: tuple[Path, ...] = ()  # hashed into the key but not passed to the compiler
    extra_cflags: tuple[str, ...] = ("-O3",)
    # No --use_fast_math: these kernels are memory-bound, and exact expf/tanhf keep the
    # fp32 kernels within 1e-5 of the reference.
    extra_cuda_cflags: tuple[str, ...] = ("-O3",)
    arch: str | None = None  # `8.0;9.0+PTX`; None: TORCH_CUDA_ARCH_LIST or the visible GPUs'

    @property
    def cuda(self) -> bool:
        return any(s.suffix == ".cu" for s in self.sources)

    def archs(self) -> str:
        return gpu_arch() if self.arch is None else self.arch

    def key(self) -> str:
        return cache_key(
            self.sources + self.headers,
            self.extra_cflags + (self.extra_cuda_cflags if self.cuda else ()),
            self.archs(),
        )

    def module_name(self) -> str:
        return f"zizi_{self.name}_{self.key()}"


def build_dir(spec: BuildSpec) -> Path:
    return cache_root() / spec.module_name()


def log_path(spec: BuildSpec) -> Path:
    """The build log; its path is stable so that error messages can point at it."""
    return cache_root() / f"{spec.module_name()}.log"


def _find_library(folder: Path, module: str) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES + [".so", ".pyd"]:
        p = folder / f"{module}{suffix}"
        if p.exists():
            return p
    return None


def _import_library(module: str, path: Path) -> ModuleType:
    if module in sys.modules:
        return sys.modules[module]
    spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None:
        raise OpsBuildError(f"cannot import the built op {path}")
    try:
        mod = importlib.util.module_from_spec(spec)  # dlopen happens here
        spec.loader.exec_module(mod)
    except ImportError as e:  # a corrupt file, or built against another torch ABI
        raise OpsBuildError(
            f"cannot import the cached op {path} ({e}); delete {path.parent} to rebuild it"
        ) from e
    sys.modules[module] = mod
    return mod


def _compile(spec: BuildSpec, folder: Path, log: Path) -> ModuleType:
    """Run cpp_extension's ninja build in `folder`; write everything it said to `log`."""
    from torch.utils import cpp_extension

    cuda_flags = list(spec.extra_cuda_cflags) + (arch_flags(spec.archs()) if spec.cuda else [])
    lines = [
        f"zizi build of {spec.module_name()} at {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"CUDA_HOME {cpp_extension.CUDA_HOME}",
        f"architectures: {spec.archs()}; nvcc flags: {cuda_flags}",
        f"sources: {[str(s) for s in spec.sources]}",
        "",
    ]
    try:
        mod = cpp_extension.load(
            name=spec.module_name(),
            sources=[str(s) for s in spec.sources],
            extra_cflags=list(spec.extra_cflags),
            # explicit -gencode flags: cpp_extension then adds no arch flags of its own
            extra_cuda_cflags=cuda_flags,
            extra_include_paths=[str(OPS_DIR), *sorted({str(s.parent) for s in spec.sources})],
            build_directory=str(folder),
            verbose=False,
            is_python_module=True,
        )
    except Exception as e:  # a compiler error, a missing nvcc or ninja: all end up in the log
        lines += [f"{type(e).__name__}: {e}"]
        log.write_text("\n".join(lines) + "\n")
        raise OpsBuildError(
            f"building the {spec.name} op failed ({_first_line(e)}); build log: {log}"
        ) from e
    lines += ["build succeeded"]
    log.write_text("\n".join(lines) + "\n")
    return mod


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def load(spec: BuildSpec, lock_timeout_s: float = 600.0) -> ModuleType:
    """Import the built op, building it first if the cache has none. Raises OpsBuildError."""
    module = spec.module_name()
    final = build_dir(spec)
    lib = _find_library(final, module)
    if lib is not None:
        return _import_library(module, lib)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / f"{module}.lock", timeout_s=lock_timeout_s):
        lib = _find_library(final, module)  # another process built it while we waited
        if lib is None:
            # Holding the lock, any other temporary folder is a killed build's leftover.
            for leftover in root.glob(f"{module}.tmp-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            if spec.cuda:
                check_toolkit()
            tmp = root / f"{module}.tmp-{os.getpid()}"
            tmp.mkdir()
            try:
                mod = _compile(spec, tmp, log_path(spec))
                if _find_library(tmp, module) is None:
                    raise OpsBuildError(
                        f"the {spec.name} build produced no library; build log: {log_path(spec)}"
                    )
                shutil.rmtree(final, ignore_errors=True)  # a partial folder from an old crash
                os.replace(tmp, final)  # atomic: readers see no folder or a whole one
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            # Already imported from the temporary folder; the move keeps the mapped file.
            sys.modules[module] = mod
            return mod
    return _import_library(module, lib)


# --------------------------------------------------------------------------- choice


# Every op's Plugin, by name; filled as the op modules are imported (for `zizi doctor`).
PLUGINS: dict[str, Plugin] = {}
OP_MODULES = ("zizi.ops.bias_act", "zizi.ops.upfirdn2d")


@dataclass
class Plugin:
    """One op's kernel: built on first CUDA use, checked on each device, outcomes remembered
    for the process."""

    spec: BuildSpec
    # a tiny launch run once after loading, raising if the kernels cannot run on this GPU
    smoke: Callable[[ModuleType], None] | None = None
    # (bindings, device) -> comparisons of the kernel path with the reference
    selfcheck: _selfcheck.Check | None = None
    python_sources: tuple[Path, ...] = ()  # the op's .py files: part of the verdict's key
    device_types: tuple[str, ...] = ("cuda",)  # where the kernel runs (tests add "cpu")
    module: ModuleType | None = None
    error: OpsBuildError | None = None  # why the build failed, once it has
    verdicts: dict[str, _selfcheck.Verdict] = field(default_factory=dict)  # by device
    warned: bool = False
    _tried: bool = field(default=False, repr=False)

    def state(self) -> str:
        """`cached` (built earlier), `built` (this process), `failed`, or `not built`."""
        if self.module is not None:
            return "built"
        if self.error is not None:
            return "failed"
        return (
            "cached"
            if _find_library(build_dir(self.spec), self.spec.module_name())
            else "not built"
        )

    def try_load(self) -> ModuleType | None:
        if not self._tried:
            self._tried = True
            try:
                module = load(self.spec)
                if self.smoke is not None:
                    try:
                        self.smoke(module)
                    except Exception as e:  # "no kernel image is available", a bad launch
                        raise OpsBuildError(
                            f"the built {self.spec.name} op cannot run on this GPU "
                            f"({_first_line(e)}); it was built for {self.spec.archs()}: set "
                            "TORCH_CUDA_ARCH_LIST to this GPU's compute capability, or delete "
                            f"{build_dir(self.spec)} to rebuild"
                        ) from e
                self.module = module
            except OpsBuildError as e:
                self.error = e
            except Exception as e:  # e.g. an unwritable cache folder: still a fallback, not a crash
                self.error = OpsBuildError(
                    f"could not build or load the {self.spec.name} op: {type(e).__name__}: {e}"
                )
        return self.module

    def check_device(self) -> torch.device | None:
        """The device `zizi doctor` checks the kernel on: the first GPU, if there is one."""
        return torch.device("cuda", 0) if torch.cuda.is_available() else None

    def cached_verdict(self, device: torch.device) -> _selfcheck.Verdict | None:
        """The verdict this process or an earlier one reached on `device`; None if none."""
        if str(device) in self.verdicts:
            return self.verdicts[str(device)]
        if self.selfcheck is None:
            return None
        return _selfcheck.load(self.verdict_path(device))

    def verdict_path(self, device: torch.device) -> Path:
        key = _selfcheck.verdict_key(device, self.python_sources)
        return build_dir(self.spec) / f"selfcheck-{key}.json"

    def selfcheck_log(self) -> Path:
        return cache_root() / f"{self.spec.module_name()}.selfcheck.log"

    def verdict(self, device: torch.device) -> _selfcheck.Verdict | None:
        """The loaded kernel's verdict on `device`: remembered, cached on disk, or checked
        now (and cached). None when the op has no check."""
        if self.selfcheck is None or self.module is None:
            return None
        where = str(device)
        if where not in self.verdicts:
            path = self.verdict_path(device)
            v = _selfcheck.load(path)
            if v is None:
                v = _selfcheck.run(self.selfcheck, self.module, device, self.selfcheck_log())
                _selfcheck.save(path, v)
            self.verdicts[where] = v
        return self.verdicts[where]

    def use(self, x: torch.Tensor) -> bool:
        """Whether the kernel should run on `x`: the single decision each public op makes."""
        if x.device.type not in self.device_types:
            return False
        mode = ops_mode()
        if mode == "ref":
            return False
        if self.try_load() is not None:
            v = self.verdict(x.device)
            if v is None or v.ok:
                return True
            error = OpsCheckError(
                f"the CUDA op '{self.spec.name}' disagrees with its PyTorch reference on "
                f"{v.device} ({v.summary()}); every comparison is in {v.log}; delete "
                f"{build_dir(self.spec)} to rebuild and check again"
            )
            if mode == "cuda":
                raise error
            if not self.warned:
                self.warned = True
                warnings.warn(
                    f"zizi: {error}. The PyTorch reference is used instead for the "
                    "rest of this process (slower, correct).",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return False
        assert self.error is not None
        if mode == "cuda":
            raise self.error
        if not self.warned:
            self.warned = True
            warnings.warn(
                f"zizi: the fused CUDA op '{self.spec.name}' is unavailable, so the slower "
                f"PyTorch reference is used instead. Why: {self.error}. To fix it, install a "
                f"CUDA toolkit (nvcc) matching torch {torch.__version__} (CUDA "
                f"{torch.version.cuda}) and ninja, then delete the log and run again; or set "
                f"ZIZI_OPS=ref to silence this warning.",
                RuntimeWarning,
                stacklevel=3,
            )
        return False


def op_spec(name: str) -> BuildSpec:
    """The BuildSpec of a zizi op: `<name>.cpp` + `<name>.cu`, with `<name>.h` in the key."""
    return BuildSpec(
        name=name,
        sources=(OPS_DIR / f"{name}.cpp", OPS_DIR / f"{name}.cu"),
        headers=(OPS_DIR / f"{name}.h", *SHARED_HEADERS),
    )


def cuda_stream(x: torch.Tensor) -> int:
    """The current CUDA stream of x's device as the integer the bindings take."""
    return torch.cuda.current_stream(x.device).cuda_stream


def register(plugin: Plugin) -> Plugin:
    """Record an op's Plugin so `zizi doctor` can report on it."""
    PLUGINS[plugin.spec.name] = plugin
    return plugin


def all_plugins() -> dict[str, Plugin]:
    """The Plugin of every zizi op (imports the op modules)."""
    for name in OP_MODULES:
        importlib.import_module(name)
    return dict(PLUGINS)
