"""`zizi import`, `zizi info` and `zizi generate` as a person runs them."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.tiny import FIXTURES

FIXTURE = FIXTURES / "nvlabs" / "sg2ada-tiny.pkl"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("ck") / "tiny.safetensors"
    result = invoke("import", FIXTURE, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_help_is_instant_and_imports_no_torch():
    code = (
        "import sys; from zizi.cli import cli; cli(['--help'], standalone_mode=False); "
        "print('TORCH' if 'torch' in sys.modules else 'NOTORCH')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "NOTORCH" in out and "generate" in out and "import" in out


def test_python_dash_m_zizi():
    out = subprocess.run(
        [sys.executable, "-m", "zizi", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "zizi" in out.stdout


def test_import_refuses_to_overwrite(ckpt):
    result = invoke("import", FIXTURE, "--out", ckpt)
    assert result.exit_code == 2 and "--force" in result.output


def test_info(ckpt):
    result = invoke("info", ckpt)
    assert result.exit_code == 0, result.output
    assert "32x32" in result.output and "params=172,355" in result.output
    assert "sg2ada-tiny.pkl" in result.output and "source_sha256" in result.output
    assert "augment p = 0.2340" in result.output


def test_generate_matches_reference_faces(ckpt, tmp_path):
    result = invoke(
        "generate", ckpt, "--seeds", "0-3", "--out", tmp_path / "r", "--grid", "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    exp = np.load(FIXTURES / "nvlabs" / "sg2ada-tiny-expected.npz")["img_psi1_const"]
    ref = np.clip(exp * 127.5 + 128, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    for i in range(4):
        got = np.asarray(Image.open(tmp_path / "r" / f"seed{i:04d}.png"))
        assert got.shape == (32, 32, 3)
        assert np.abs(got.astype(int) - ref[i]).max() <= 1  # float rounding at a level boundary
    grid = Image.open(tmp_path / "r" / "grid.png")
    assert grid.size == (64, 64)
    assert not list((tmp_path / "r").glob("*.partial"))


def test_generate_truncation_and_cutoff(ckpt, tmp_path):
    for args, name in [(["--trunc", "0"], "a"), (["--trunc", "0.5", "--trunc-cutoff", "2"], "b")]:
        result = invoke("generate", ckpt, "--seeds", "1,5", "--out", tmp_path / name, *args)
        assert result.exit_code == 0, result.output
    a1 = np.asarray(Image.open(tmp_path / "a" / "seed0001.png"))
    a5 = np.asarray(Image.open(tmp_path / "a" / "seed0005.png"))
    assert np.abs(a1.astype(int) - a5).max() <= 1  # psi 0: every seed is the average face
    b1 = np.asarray(Image.open(tmp_path / "b" / "seed0001.png"))
    assert np.abs(a1.astype(int) - b1).max() > 1


@pytest.mark.parametrize("seeds", ["", "a-b", "5-2", "1,,2", "-3", "99999999999"])
def test_bad_seeds_are_usage_errors(ckpt, tmp_path, seeds):
    result = invoke("generate", ckpt, "--seeds", seeds, "--out", tmp_path / "x")
    assert result.exit_code == 2, result.output
    assert "--seeds" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_generate_refuses_a_pickle(tmp_path):
    result = invoke("generate", FIXTURE, "--seeds", "0", "--out", tmp_path / "x")
    assert result.exit_code == 2  # a usage mistake, not a broken file
    assert "not a zizi checkpoint" in result.output and "zizi import" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()
    result = invoke("info", FIXTURE)
    assert result.exit_code == 2 and "not a zizi checkpoint" in result.output


def test_generate_refuses_truncated_checkpoint(ckpt, tmp_path):
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(ckpt.read_bytes()[:-1000])
    result = invoke("generate", cut, "--seeds", "0", "--out", tmp_path / "x")
    assert result.exit_code == 1 and "truncated" in result.output


def test_generate_missing_checkpoint(tmp_path):
    result = invoke(
        "generate", tmp_path / "nope.safetensors", "--seeds", "0", "--out", tmp_path / "x"
    )
    assert result.exit_code == 1 and "not found" in result.output


def test_cuda_device_without_gpu_is_clear(ckpt, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = invoke("generate", ckpt, "--seeds", "0", "--out", tmp_path / "x", "--device", "cuda")
    assert result.exit_code == 1 and "no CUDA GPU" in result.output


def test_import_which_is_case_insensitive_and_resolution(tmp_path):
    out = tmp_path / "g16.safetensors"
    result = invoke("import", FIXTURE, "--which", "g_ema", "--resolution", "16", "--out", out)
    assert result.exit_code == 0, result.output
    result = invoke("info", out)
    assert "G_ema" in result.output and "16x16" in result.output and " G  " not in result.output
    result = invoke("import", FIXTURE, "--resolution", "64", "--out", tmp_path / "x.safetensors")
    assert result.exit_code == 1 and "cannot raise resolution" in result.output
    assert not (tmp_path / "x.safetensors").exists()


def test_generate_trunc_must_be_a_number(ckpt, tmp_path):
    result = invoke("generate", ckpt, "--seeds", "0", "--trunc", "nan", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "--trunc" in result.output  # was: an all-black image
    assert not (tmp_path / "x").exists()


def test_generate_class_on_unconditional_and_conditional(ckpt, tmp_path):
    result = invoke("generate", ckpt, "--seeds", "0", "--class", "0", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "not conditional" in result.output  # was: silently ignored
    assert not (tmp_path / "x").exists()

    from tests.helpers.tiny import tiny_nets
    from zizi.io.checkpoint import Checkpoint, save_checkpoint
    from zizi.nets.generator import Generator

    cfg = tiny_nets(8, c_dim=3)[0]
    cond = save_checkpoint(
        tmp_path / "cond.safetensors", Checkpoint(cfg, None, {"G_ema": Generator(cfg).state_dict()})
    )
    result = invoke("generate", cond, "--seeds", "0", "--out", tmp_path / "c")
    assert result.exit_code == 2 and "--class" in result.output
    result = invoke("generate", cond, "--seeds", "0", "--class", "3", "--out", tmp_path / "c")
    assert result.exit_code == 2 and "3 classes (0-2)" in result.output
    result = invoke("generate", cond, "--seeds", "0", "--class", "2", "--out", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "seed0000.png").is_file()


def test_generate_out_that_cannot_be_created(ckpt, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("generate", ckpt, "--seeds", "0", "--out", tmp_path / "notes.txt" / "renders")
    assert result.exit_code == 1 and "cannot create the output folder" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_info_on_a_folder_says_so(tmp_path):
    result = invoke("info", tmp_path)  # a folder that is not a run (a run folder is its snapshot)
    assert result.exit_code == 2 and "is a folder but not a zizi run folder" in result.output
