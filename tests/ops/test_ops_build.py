"""The build machinery: cache keys, the lock, atomic installs, logs, the ZIZI_OPS switch.

One real compile (a pybind11-only extension, seconds) and one real failing compile; the
rest uses fakes for the compiler so the suite stays fast.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import types
import warnings
from pathlib import Path

import pytest
import torch

from zizi.errors import OpsBuildError
from zizi.ops import _build
from zizi.ops._build import BuildSpec, FileLock, Plugin, cache_key

TINY = Path(__file__).parent / "tiny_ext" / "tiny.cpp"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ZIZI_CACHE", str(tmp_path))
    return tmp_path / "ops"


def _spec(src: Path, name: str = "fake") -> BuildSpec:
    return BuildSpec(name=name, sources=(src,), extra_cflags=("-O0",), arch="none")


# ---------------------------------------------------------------------------- cache key


def test_cache_key_changes_with_sources_flags_and_arch(tmp_path):
    src = tmp_path / "op.cpp"
    src.write_text("int a;")
    key = cache_key([src], ["-O3"], "sm_80")
    assert key == cache_key([src], ["-O3"], "sm_80")
    assert key != cache_key([src], ["-O2"], "sm_80")
    assert key != cache_key([src], ["-O3"], "sm_90")
    src.write_text("int b;")
    assert key != cache_key([src], ["-O3"], "sm_80")


def test_op_specs_hash_their_header(tmp_path):
    spec = _build.op_spec("bias_act")
    assert [p.name for p in spec.sources] == ["bias_act.cpp", "bias_act.cu"]
    assert spec.cuda and spec.headers[0].name == "bias_act.h"
    assert spec.module_name().startswith("zizi_bias_act_")


# ---------------------------------------------------------------------------- lock


def _write_owner(path: Path, pid: int, host: str, age_s: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "time": time.time() - age_s}))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_left_by_a_dead_process_is_recovered(tmp_path):
    lock = tmp_path / "x.lock"
    _write_owner(lock, _dead_pid(), socket.gethostname())
    t0 = time.monotonic()
    with FileLock(lock, timeout_s=5):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert time.monotonic() - t0 < 2 and not lock.exists()


def test_old_lock_from_another_host_is_recovered(tmp_path):
    lock = tmp_path / "x.lock"
    _write_owner(lock, 1, "elsewhere", age_s=3600)
    t0 = time.monotonic()
    with FileLock(lock, timeout_s=2, stale_after_s=60):
        owner = json.loads(lock.read_text())
        assert (owner["pid"], owner["host"]) == (os.getpid(), socket.gethostname())
    assert time.monotonic() - t0 < 2 and not lock.exists()


def test_live_lock_times_out_with_an_actionable_message(tmp_path):
    lock = tmp_path / "x.lock"
    _write_owner(lock, 1, "elsewhere")  # fresh, on another host: cannot be probed
    with pytest.raises(OpsBuildError, match="delete that file"):
        FileLock(lock, timeout_s=0.3, poll_s=0.05).acquire()
    _write_owner(lock, os.getpid(), socket.gethostname())  # alive: this very process
    with pytest.raises(OpsBuildError, match="timed out"):
        FileLock(lock, timeout_s=0.3, poll_s=0.05).acquire()


# ---------------------------------------------------------------------------- install


def _fake_compile(calls: list):
    def compile_(spec, folder, log):
        calls.append(folder)
        (folder / f"{spec.module_name()}.so").write_bytes(b"fake")
        log.write_text("build succeeded\n")
        return types.SimpleNamespace(name="fresh")

    return compile_


def test_build_moves_into_place_and_reuses_cache(cache, tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(_build, "_compile", _fake_compile(calls))
    monkeypatch.setattr(
        _build, "_import_library", lambda module, path: types.SimpleNamespace(name="cached")
    )
    spec = _spec(TINY)
    final = _build.build_dir(spec)
    final.mkdir(parents=True)  # a partial folder from a crashed build (no library in it)
    (cache / f"{spec.module_name()}.tmp-999999").mkdir()  # a killed build's leftover
    assert _build.load(spec).name == "fresh"
    assert (final / f"{spec.module_name()}.so").exists()
    assert calls[0].name.startswith(f"{spec.module_name()}.tmp-")  # built beside, not in place
    assert (
        not calls[0].exists() and not list(cache.glob("*.tmp-*")) and not list(cache.glob("*.lock"))
    )
    assert _build.load(spec).name == "cached" and len(calls) == 1


def test_failed_build_leaves_nothing_half_installed(cache, monkeypatch):
    def fail(spec, folder, log):
        (folder / "half.o").write_bytes(b"")
        log.write_text("error: boom\n")
        raise OpsBuildError(f"building failed; build log: {log}")

    monkeypatch.setattr(_build, "_compile", fail)
    spec = _spec(TINY)
    with pytest.raises(OpsBuildError, match="build log"):
        _build.load(spec)
    assert not _build.build_dir(spec).exists() and not list(cache.glob("*.tmp-*"))
    assert not list(cache.glob("*.lock")) and _build.log_path(spec).read_text() == "error: boom\n"


def test_corrupt_cached_library_is_an_actionable_error(cache):
    spec = _spec(TINY, name="corrupt")
    final = _build.build_dir(spec)
    final.mkdir(parents=True)
    (final / f"{spec.module_name()}.so").write_bytes(b"not an ELF file")
    with pytest.raises(OpsBuildError, match="to rebuild it"):
        _build.load(spec)


def test_real_compile_error_is_logged_and_the_path_reported(cache, tmp_path):
    bad = tmp_path / "bad.cpp"
    bad.write_text('#error "zizi test: deliberate compile error"\n')
    spec = _spec(bad, name="bad")
    with pytest.raises(OpsBuildError) as err:
        _build.load(spec)
    log = _build.log_path(spec)
    assert str(log) in str(err.value)
    assert "deliberate compile error" in log.read_text()


def test_concurrent_processes_build_once(cache, tmp_path):
    # DDP ranks: every process calls load(); one compiles, the others wait and reuse.
    counter = tmp_path / "builds.txt"
    script = textwrap.dedent(f"""
        import time, types
        from pathlib import Path
        from zizi.ops import _build
        def compile_(spec, folder, log):
            with open({str(counter)!r}, "a") as fh:
                fh.write("built\\n")
            time.sleep(1.0)
            (folder / (spec.module_name() + ".so")).write_bytes(b"fake")
            return types.SimpleNamespace()
        _build._compile = compile_
        _build._import_library = lambda module, path: types.SimpleNamespace()
        spec = _build.BuildSpec(name="ddp", sources=(Path({str(TINY)!r}),), arch="none")
        _build.load(spec)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(3)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert counter.read_text().count("built") == 1


# ---------------------------------------------------------------------------- real build


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """The suite's single real successful compile, shared by the tests that need one."""
    root = tmp_path_factory.mktemp("zizi-cache")
    old = os.environ.get("ZIZI_CACHE")
    os.environ["ZIZI_CACHE"] = str(root)
    try:
        spec = _spec(TINY, name="tiny")
        module = _build.load(spec)
        yield root, spec, module
    finally:
        if old is None:
            os.environ.pop("ZIZI_CACHE", None)
        else:
            os.environ["ZIZI_CACHE"] = old


def test_real_extension_builds_imports_and_is_reused(tiny_build):
    root, spec, module = tiny_build
    assert module.add_one(41) == 42
    log = _build.log_path(spec)
    assert "build succeeded" in log.read_text()
    stamp = log.stat().st_mtime_ns
    script = textwrap.dedent(f"""
        from pathlib import Path
        from zizi.ops import _build
        spec = _build.BuildSpec(name="tiny", sources=(Path({str(TINY)!r}),),
                                extra_cflags=("-O0",), arch="none")
        assert _build.Plugin(spec).state() == "cached"
        print(_build.load(spec).add_one(1))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ZIZI_CACHE": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
    assert log.stat().st_mtime_ns == stamp  # loaded from the cache, not rebuilt


# ---------------------------------------------------------------------------- the switch

CUDA_TENSOR = types.SimpleNamespace(is_cuda=True, device=torch.device("cuda"))  # what use() reads


def _failing_plugin(monkeypatch, cache) -> tuple[Plugin, list]:
    attempts: list = []

    def load(spec, lock_timeout_s=600.0):
        attempts.append(spec)
        raise OpsBuildError(
            f"building the {spec.name} op failed (nvcc not found); "
            f"build log: {_build.log_path(spec)}"
        )

    monkeypatch.setattr(_build, "load", load)
    return Plugin(_spec(TINY, name="op")), attempts


def test_auto_falls_back_with_one_warning(monkeypatch, cache):
    monkeypatch.setenv("ZIZI_OPS", "auto")
    plugin, attempts = _failing_plugin(monkeypatch, cache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [plugin.use(CUDA_TENSOR) for _ in range(3)] == [False, False, False]
    assert len(caught) == 1 and len(attempts) == 1
    message = str(caught[0].message)
    assert "nvcc not found" in message and "build log" in message and "ZIZI_OPS=ref" in message
    assert plugin.state() == "failed"


def test_cuda_mode_raises_with_log_path(monkeypatch, cache):
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    plugin, _ = _failing_plugin(monkeypatch, cache)
    with pytest.raises(OpsBuildError, match="build log: .*op_"):
        plugin.use(CUDA_TENSOR)


def test_ref_mode_and_cpu_tensors_never_build(monkeypatch, cache):
    plugin, attempts = _failing_plugin(monkeypatch, cache)
    monkeypatch.setenv("ZIZI_OPS", "ref")
    assert plugin.use(CUDA_TENSOR) is False
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    assert plugin.use(torch.zeros(1)) is False
    assert attempts == []
    monkeypatch.setenv("ZIZI_OPS", "fast")
    with pytest.raises(OpsBuildError, match="not one of auto, cuda, ref"):
        plugin.use(CUDA_TENSOR)


# ------------------------------------------------------------- architectures and toolkit


def test_arch_list_is_in_the_key_and_reaches_nvcc(monkeypatch, cache):
    spec = _build.op_spec("bias_act")
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
    k90 = spec.key()
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.0;10.0+PTX")
    assert spec.key() != k90 and spec.archs() == "8.0;10.0+PTX"
    seen = {}

    def fake_load(**kw):
        seen.update(kw)
        raise RuntimeError("stop here")

    monkeypatch.setattr("torch.utils.cpp_extension.load", fake_load)
    log = cache / "x.log"
    cache.mkdir(parents=True)
    with pytest.raises(OpsBuildError, match="stop here"):
        _build._compile(spec, cache, log)
    flags = seen["extra_cuda_cflags"]
    assert "-gencode=arch=compute_80,code=sm_80" in flags
    assert "-gencode=arch=compute_100,code=sm_100" in flags
    assert "-gencode=arch=compute_100,code=compute_100" in flags  # PTX for newer GPUs
    assert "-gencode=arch=compute_80,code=compute_80" not in flags
    assert "8.0;10.0+PTX" in log.read_text()


def test_arch_flags_forms_and_errors():
    assert _build.arch_flags("none") == []
    assert _build.arch_flags("sm_90") == [
        "-gencode=arch=compute_90,code=sm_90",
        "-gencode=arch=compute_90,code=compute_90",
    ]
    assert "-gencode=arch=compute_90a,code=sm_90a" in _build.arch_flags("8.6;9.0a")
    with pytest.raises(OpsBuildError, match="TORCH_CUDA_ARCH_LIST"):
        _build.arch_flags("Hopper")


def test_nvcc_major_must_match_torch_cuda():
    _build.check_toolkit((12, 4), "12.8")  # same major: fine
    with pytest.raises(OpsBuildError, match=r"nvcc is CUDA 13.0 but torch .* CUDA 12.8"):
        _build.check_toolkit((13, 0), "12.8")
    with pytest.raises(OpsBuildError, match="without CUDA"):
        _build.check_toolkit((13, 0), None)


def test_installed_nvcc_version_is_read():
    import shutil as _sh

    nvcc = _sh.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not on PATH")
    version = _build.nvcc_version(nvcc)
    assert version is not None and version[0] >= 11


def _loaded_plugin(monkeypatch, smoke):
    monkeypatch.setattr(_build, "load", lambda spec: types.SimpleNamespace(name="module"))
    return Plugin(_spec(TINY, name="op"), smoke=smoke)


def _no_kernel_image(module):
    raise RuntimeError("CUDA error: no kernel image is available for execution on the device")


def test_a_binary_that_cannot_launch_falls_back_in_auto(monkeypatch, cache):
    monkeypatch.setenv("ZIZI_OPS", "auto")
    plugin = _loaded_plugin(monkeypatch, _no_kernel_image)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert plugin.use(CUDA_TENSOR) is False
    assert plugin.module is None and "no kernel image" in str(caught[0].message)
    assert "TORCH_CUDA_ARCH_LIST" in str(caught[0].message)


def test_a_binary_that_cannot_launch_is_an_error_in_cuda_mode(monkeypatch, cache):
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    with pytest.raises(OpsBuildError, match="cannot run on this GPU .*no kernel image"):
        _loaded_plugin(monkeypatch, _no_kernel_image).use(CUDA_TENSOR)
    ok = _loaded_plugin(monkeypatch, lambda module: None)
    assert ok.use(CUDA_TENSOR) is True and ok.module is not None
