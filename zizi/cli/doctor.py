"""`zizi doctor`: what this machine can run, and why not when it cannot.

Reports torch and CUDA, the GPUs, the compilers the custom ops need (nvcc, ninja, a C++
compiler), each op's state (built, cached, not built, or failed with the reason) and the
verdict of its self-check against the reference (`--build` runs it), ffmpeg
and its encoders, and which optional extras are installed. Missing things are reported,
never raised: doctor is what people run when something is missing.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from typing import Any

import click

ENCODERS = (
    "libx264",
    "libx265",
    "h264_nvenc",
    "hevc_nvenc",
    "prores_ks",
    "libvpx-vp9",
    "libaom-av1",
    "libsvtav1",
    "png",
    "gif",
)
EXTRAS_FALLBACK = {"dev": ["pytest", "ruff", "scikit-image"], "heif": ["pillow-heif"]}


def _run(cmd: list[str], timeout: float = 20.0) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout + out.stderr


def _tool(name: str, version_args: list[str], pattern: str) -> dict[str, Any]:
    path = shutil.which(name)
    if path is None:
        return {"found": False, "path": None, "version": None}
    text = _run([path, *version_args]) or ""
    m = re.search(pattern, text)
    return {"found": True, "path": path, "version": m.group(1) if m else None}


def torch_facts() -> dict[str, Any]:
    import torch

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append(
                {
                    "name": p.name,
                    "capability": f"{p.major}.{p.minor}",
                    "memory_gib": round(p.total_memory / 2**30, 1),
                }
            )
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "gpus": gpus,
        # what the CLI's thread policy (zizi.runtime.choose_threads) left torch with
        "threads": torch.get_num_threads(),
        "omp": {
            k: os.environ[k]
            for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
            if k in os.environ
        },
    }


def ops_facts(build: bool) -> dict[str, Any]:

    from zizi.errors import OpsBuildError
    from zizi.ops import _build

    try:
        mode: str = _build.ops_mode()
    except OpsBuildError as e:
        mode = f"invalid ({e})"
    ops = []
    for name, plugin in _build.all_plugins().items():
        device = plugin.check_device()
        verdict = None
        if device is not None and mode in ("auto", "cuda"):
            if build and plugin.try_load() is not None:
                verdict = plugin.verdict(device)  # checks now unless a verdict is cached
            elif plugin.state() in ("built", "cached"):
                verdict = plugin.cached_verdict(device)
        state = plugin.state()
        if mode == "ref":
            use = "reference (ZIZI_OPS=ref)"
        elif device is None:
            use = "reference (no CUDA device; the kernels are CUDA-only)"
        elif state == "failed":
            use = (
                "reference (fallback: build failed)" if mode == "auto" else "error (ZIZI_OPS=cuda)"
            )
        elif verdict is not None and not verdict.ok:
            use = (
                "reference (fallback: the kernel disagrees with its reference)"
                if mode == "auto"
                else "error (ZIZI_OPS=cuda: the kernel disagrees with its reference)"
            )
        else:
            use = "CUDA kernel" + ("" if state in ("built", "cached") else ", built on first use")
            if verdict is None and state in ("built", "cached"):
                use += ", checked against its reference on first use"
        ops.append(
            {
                "name": name,
                "state": state,
                "uses": use,
                "reason": str(plugin.error) if plugin.error else None,
                "log": str(_build.log_path(plugin.spec)),
                "check": None
                if verdict is None
                else {"ok": verdict.ok, "summary": verdict.summary(), "log": verdict.log},
            }
        )
    return {"mode": mode, "cache": str(_build.cache_root()), "ops": ops}


def ffmpeg_facts() -> dict[str, Any]:
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # not installed, or no binary for this platform
        return {"found": False, "path": None, "version": None, "encoders": {}, "reason": str(e)}
    version = _run([exe, "-hide_banner", "-version"]) or ""
    m = re.search(r"ffmpeg version (\S+)", version)
    listing = _run([exe, "-hide_banner", "-encoders"]) or ""
    names = {
        line.split()[1]
        for line in listing.splitlines()
        if len(line.split()) > 1 and re.match(r"^\s[VAS][.A-Z]{5}\s", line)
    }
    return {
        "found": True,
        "path": exe,
        "version": m.group(1) if m else None,
        "encoders": {e: e in names for e in ENCODERS},
    }


def extras_facts() -> dict[str, dict[str, str | None]]:
    """Each optional extra of zizi, with its packages' installed versions (None: missing)."""
    extras: dict[str, list[str]] = {}
    try:
        for req in metadata.metadata("zizi").get_all("Requires-Dist") or []:
            m = re.match(r"^([A-Za-z0-9_.\-]+).*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]", req)
            if m:
                extras.setdefault(m.group(2), []).append(m.group(1))
    except metadata.PackageNotFoundError:
        pass
    out: dict[str, dict[str, str | None]] = {}
    for extra, pkgs in (extras or EXTRAS_FALLBACK).items():
        out[extra] = {}
        for pkg in pkgs:
            try:
                out[extra][pkg] = metadata.version(pkg)
            except metadata.PackageNotFoundError:
                out[extra][pkg] = None
    return out


def collect(build: bool = False) -> dict[str, Any]:
    from zizi import __version__

    return {
        "zizi": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch_facts(),
        "tools": {
            "nvcc": _tool("nvcc", ["--version"], r"release ([\d.]+)"),
            "ninja": _tool("ninja", ["--version"], r"(\d+(?:\.\d+)*)"),
            "c++": _tool(os.environ.get("CXX", "c++"), ["--version"], r"(\d+\.\d+(?:\.\d+)?)"),
        },
        "ops": ops_facts(build),
        "ffmpeg": ffmpeg_facts(),
        "extras": extras_facts(),
    }


def _found(t: dict[str, Any]) -> str:
    if not t["found"]:
        return "not found"
    return f"{t['version'] or 'unknown version'} ({t['path']})"


def render(r: dict[str, Any]) -> str:
    t = r["torch"]
    lines = [
        f"zizi {r['zizi']}  python {r['python']}  {r['platform']}",
        f"torch {t['version']}  CUDA {t['cuda'] or 'none (CPU build)'}  cuDNN {t['cudnn'] or '-'}",
    ]
    if "threads" in t:
        omp = " ".join(f"{k}={v}" for k, v in t["omp"].items())
        lines.append(f"CPU threads: {t['threads']}" + (f" ({omp})" if omp else ""))
    if t["gpus"]:
        lines += [
            f"GPU {i}: {g['name']} (sm {g['capability']}, {g['memory_gib']} GiB)"
            for i, g in enumerate(t["gpus"])
        ]
    else:
        lines.append("GPU: none visible to torch")
    lines += [f"{name:<6} {_found(tool)}" for name, tool in r["tools"].items()]
    o = r["ops"]
    lines.append(f"custom ops: ZIZI_OPS={o['mode']}  cache {o['cache']}")
    for op in o["ops"]:
        lines.append(f"  {op['name']:<10} {op['state']:<9} -> {op['uses']}")
        if op["reason"]:
            lines.append(f"             why: {op['reason']}")
        if op.get("check"):
            lines.append(f"             self-check: {op['check']['summary']}")
    f = r["ffmpeg"]
    if f["found"]:
        have = [e for e, ok in f["encoders"].items() if ok]
        missing = [e for e, ok in f["encoders"].items() if not ok]
        lines.append(f"ffmpeg {f['version']} ({f['path']})")
        lines.append(
            f"  encoders: {', '.join(have) or 'none of interest'}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    else:
        lines.append(f"ffmpeg: not found ({f.get('reason', '')}); `pip install imageio-ffmpeg`")
    for extra, pkgs in r["extras"].items():
        shown = ", ".join(f"{p} {v}" if v else f"{p} missing" for p, v in pkgs.items())
        lines.append(f"extra [{extra}]: {shown}")
    return "\n".join(lines)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--build",
    is_flag=True,
    help="Build the custom ops now and check them against their references "
    "(needs a CUDA device); report failures.",
)
def doctor(as_json: bool, build: bool) -> None:
    """Check torch, CUDA, the custom ops' builds, ffmpeg and optional extras."""
    report = collect(build=build)
    why = nothing_to_build(report) if build else None
    if why:
        report["nothing_to_build"] = why
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if why:
        click.echo(f"--build: nothing to build: {why}")
    click.echo(render(report))


def nothing_to_build(report: dict[str, Any]) -> str | None:
    """Why `--build` has nothing to do here, or None when the ops can be built."""
    t = report["torch"]
    if report["ops"]["mode"] == "ref":
        return "ZIZI_OPS=ref asks for the PyTorch reference ops, which need no build"
    if t["cuda_available"]:
        return None
    cause = (
        "this torch is a CPU-only build (no CUDA)" if not t["cuda"] else "torch sees no CUDA device"
    )
    return (
        f"{cause}, and the custom ops are CUDA kernels; zizi uses their PyTorch "
        "reference versions instead (same results, slower)"
    )
