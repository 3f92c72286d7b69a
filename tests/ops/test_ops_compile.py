"""Compile checks for the CUDA sources, runnable without a GPU or a CUDA build of torch.

The CPU wheel of torch cannot build the real extensions: `torch.utils.cpp_extension`
finds no CUDA_HOME for it, and its headers lack `c10/cuda/impl/cuda_cmake_macros.h`, so
no file including c10/cuda or ATen/cuda compiles against it. zizi therefore splits each
op: `<op>.cu` holds the kernels and a raw-pointer launcher (CUDA headers only), and
`<op>.cpp` the torch binding, free of CUDA headers (the stream comes in as an integer).
Here nvcc compiles each .cu to an object, and the host compiler compiles each .cpp
against torch's headers, which catches syntax and type errors in both halves.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from torch.utils.cpp_extension import COMMON_NVCC_FLAGS, include_paths

OPS = Path(__file__).resolve().parents[2] / "zizi" / "ops"
STEMS = ["bias_act", "upfirdn2d"]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_cuda_sources_compile_with_nvcc(tmp_path):
    procs = {
        stem: subprocess.Popen(
            # torch's own nvcc flags (no implicit half conversions...), for an Ampere GPU.
            [
                "nvcc",
                "-c",
                *COMMON_NVCC_FLAGS,
                "-std=c++17",
                "-O1",
                "-arch=sm_80",
                str(OPS / f"{stem}.cu"),
                "-o",
                str(tmp_path / f"{stem}.o"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for stem in STEMS
    }
    for stem, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"nvcc failed on {stem}.cu:\n{out}"
        assert (tmp_path / f"{stem}.o").stat().st_size > 0


# torch/extension.h parsed twice: over a minute on a busy 2-core machine, for two files that
# rarely change, so with -m slow (.ci/run runs it).
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None, reason="no host C++ compiler")
def test_bindings_compile_against_torch_headers(tmp_path):
    incs = [f"-I{p}" for p in [*include_paths(), sysconfig.get_paths()["include"], str(OPS)]]
    procs = {
        stem: subprocess.Popen(
            [
                "c++",
                "-std=c++20",
                "-fsyntax-only",
                "-Werror=return-type",
                "-DTORCH_EXTENSION_NAME=zizi_check",
                *incs,
                str(OPS / f"{stem}.cpp"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for stem in STEMS
    }
    for stem, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{stem}.cpp does not compile:\n{out}"
