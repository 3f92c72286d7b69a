"""Importing a full-size FFHQ-1024 snapshot stays under ~2x the file size in RAM."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.nvlabs_writer import write_nvlabs_pickle
from zizi.config import DiscriminatorConfig, GeneratorConfig

_MEASURE = r"""
import json, sys
def hwm_kib():  # VmHWM is per address space; ru_maxrss would carry the parent's peak over exec
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
import torch, safetensors  # noqa: F401  (same baseline as the import itself)
import zizi.io.importers, zizi.io.checkpoint, zizi.io.nvlabs
import zizi.nets.generator, zizi.nets.discriminator
base = hwm_kib()
if sys.argv[1] != "baseline":
    from zizi.io.checkpoint import save_checkpoint
    from zizi.io.importers import import_checkpoint
    save_checkpoint(sys.argv[2], import_checkpoint(sys.argv[1]))
peak = hwm_kib()
print(json.dumps({"base_kib": base, "peak_kib": peak}))
"""


pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def ffhq_sized_pickle(tmp_path_factory):
    torch.manual_seed(0)
    from zizi.nets.discriminator import Discriminator
    from zizi.nets.generator import Generator

    path = tmp_path_factory.mktemp("big") / "network-snapshot-ffhq1024.pkl"
    G = Generator(GeneratorConfig(num_fp16_res=4, conv_clamp=256))
    D = Discriminator(DiscriminatorConfig(num_fp16_res=4, conv_clamp=256))
    write_nvlabs_pickle(path, G, D, G_ema=G, augment_p=0.1)
    del G, D
    return path


def _run(*args):
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow  # three full-size 1024² networks written, then imported in a fresh interpreter
def test_full_size_import_peak_memory(ffhq_sized_pickle, tmp_path):
    size = ffhq_sized_pickle.stat().st_size
    assert size > 340e6  # three config-f 1024 networks, ~360 MB like the real snapshots
    out = tmp_path / "ffhq.safetensors"
    baseline = _run("baseline")
    measured = _run(ffhq_sized_pickle, out)
    extra = (measured["peak_kib"] - baseline["base_kib"]) * 1024
    print(
        f"file {size / 1e6:.0f} MB, import peak above baseline {extra / 1e6:.0f} MB "
        f"({extra / size:.2f}x)"
    )
    assert extra < 2 * size
    assert out.exists()
    from zizi.io.checkpoint import read_header

    header = read_header(out)
    assert header["nets"]["G_ema"]["config"]["img_resolution"] == 1024
    assert header["nets"]["G_ema"]["config"]["num_fp16_res"] == 4
