"""`zizi train` as a person runs it: bad input is one line; signals never lose work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import invoke, one_line
from tests.helpers.tiny import TINY_SET_FLAGS, make_checkpoint, make_images, tiny_nets
from zizi.io.checkpoint import load_checkpoint, read_header
from zizi.train.run import list_snapshots

ROOT = Path(__file__).resolve().parents[2]


def test_train_then_continue_the_run_via_cli(tmp_path, tiny_data, tiny_ckpt):
    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        tmp_path / "runs",
        *TINY_SET_FLAGS,
        "--kimg",
        0.008,
    )
    assert r.exit_code == 0, r.output
    run_dir = tmp_path / "runs" / "00000-faces"
    assert read_header(run_dir / "latest.safetensors")["train"]["nimg"] == 8
    r = invoke("train", "--resume", run_dir, "--kimg", 0.016)  # continue to a longer end
    assert r.exit_code == 0, r.output
    assert read_header(run_dir / "latest.safetensors")["train"]["nimg"] == 16
    assert read_header(run_dir / "latest.safetensors")["train"]["config"]["kimg"] == 0.016


def test_a_run_being_trained_is_not_trained_twice(tmp_path, tiny_data, tiny_ckpt):
    import os

    from zizi.io.runs import run_lock

    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        tmp_path / "runs",
        *TINY_SET_FLAGS,
        "--kimg",
        0.004,
    )
    assert r.exit_code == 0, r.output
    run_dir = tmp_path / "runs" / "00000-faces"
    (tmp_path / "alias").symlink_to(run_dir)
    with run_lock(run_dir):  # as a trainer that is still running holds it
        line = one_line(invoke("train", "--resume", run_dir, "--kimg", 0.008))
        assert "is being written by another zizi run" in line
        # another spelling of the same run meets the same lock (issue #21 item 3)
        line = one_line(invoke("train", "--resume", tmp_path / "alias", "--kimg", 0.008))
        assert "is being written by another zizi run" in line
        here = os.getcwd()
        os.chdir(run_dir)
        try:
            line = one_line(invoke("train", "--resume", ".", "--kimg", 0.008))
        finally:
            os.chdir(here)
        assert "is being written by another zizi run" in line
    assert invoke("train", "--resume", run_dir, "--kimg", 0.008).exit_code == 0  # released: fine


def test_a_copy_of_a_run_being_trained_is_not_locked_by_the_copied_lock(
    tmp_path, tiny_data, tiny_ckpt
):
    """A run folder copied while it trains carries its .zizi.lock: the copy resumes (here or
    on another machine), while the original stays locked, even against another host."""
    import json
    import shutil

    from zizi.files import INSIDE_LOCK
    from zizi.io.runs import run_lock

    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--resume",
        tiny_ckpt,
        "--out",
        tmp_path / "runs",
        *TINY_SET_FLAGS,
        "--kimg",
        0.004,
    )
    assert r.exit_code == 0, r.output
    run_dir = tmp_path / "runs" / "00000-faces"
    with run_lock(run_dir):  # the trainer on this machine, still running
        shutil.copytree(run_dir, tmp_path / "copy")
        lock = json.loads((run_dir / INSIDE_LOCK).read_text())
        assert (tmp_path / "copy" / INSIDE_LOCK).is_file()
        assert invoke("train", "--resume", tmp_path / "copy", "--kimg", 0.008).exit_code == 0
        line = one_line(invoke("train", "--resume", run_dir, "--kimg", 0.008))
        assert "is being written by another zizi run" in line  # the real lock still holds
        # the same lock as written by a trainer on another machine (a shared filesystem):
        # still a lock; copied away from there, not one
        (run_dir / INSIDE_LOCK).write_text(json.dumps({**lock, "host": "elsewhere", "pid": 1}))
        line = one_line(invoke("train", "--resume", run_dir, "--kimg", 0.008))
        assert "is being written by another zizi run" in line and "elsewhere" in line
        shutil.copytree(run_dir, tmp_path / "copy2")
        assert invoke("train", "--resume", tmp_path / "copy2", "--kimg", 0.008).exit_code == 0
        (run_dir / INSIDE_LOCK).write_text(json.dumps(lock))  # as it was, for the release


def test_from_scratch_with_a_net_preset(tmp_path, tiny_data):
    import yaml

    g, _ = tiny_nets()
    from zizi.config import to_dict

    preset = tmp_path / "net.yaml"
    preset.write_text(yaml.safe_dump(to_dict(g)))
    r = invoke(
        "train",
        "--data",
        tiny_data,
        "--net",
        preset,
        "--out",
        tmp_path / "runs",
        *TINY_SET_FLAGS,
        "--kimg",
        0.004,
    )
    assert r.exit_code == 0, r.output
    assert (
        tmp_path / "runs" / "00000-faces" / "frames" / "frame-000000000004.safetensors"
    ).is_file()


@pytest.mark.parametrize(
    "case",
    [
        "missing data",
        "empty data",
        "wrong size",
        "no D",
        "kimg 0",
        "kimg negative",
        "not a run",
        "unknown key",
        "both sources",
        "no source",
    ],
)
def test_bad_input_is_one_line(tmp_path, tiny_data, tiny_ckpt, case):
    out = tmp_path / "runs"
    args = {
        "missing data": ["--data", tmp_path / "nope", "--resume", tiny_ckpt, "--out", out],
        "empty data": [
            "--data",
            (tmp_path / "empty").mkdir() or tmp_path / "empty",
            "--resume",
            tiny_ckpt,
            "--out",
            out,
        ],
        "wrong size": [
            "--data",
            make_images(tmp_path / "big", 2, 32),
            "--resume",
            tiny_ckpt,
            "--out",
            out,
        ],
        "no D": [
            "--data",
            tiny_data,
            "--out",
            out,
            "--resume",
            make_checkpoint(tmp_path / "g.safetensors", *tiny_nets(), with_d=False),
        ],
        "kimg 0": ["--data", tiny_data, "--resume", tiny_ckpt, "--out", out, "--kimg", 0],
        "kimg negative": ["--data", tiny_data, "--resume", tiny_ckpt, "--out", out, "--kimg", -1],
        "not a run": ["--resume", (tmp_path / "plain").mkdir() or tmp_path / "plain"],
        "unknown key": [
            "--data",
            tiny_data,
            "--resume",
            tiny_ckpt,
            "--out",
            out,
            "--set",
            "loss.r1_gama=1",
        ],
        "both sources": [
            "--data",
            tiny_data,
            "--resume",
            tiny_ckpt,
            "--net",
            "x.yaml",
            "--out",
            out,
        ],
        "no source": ["--data", tiny_data, "--out", out],
    }[case]
    line = one_line(invoke("train", *args))
    expect = {
        "missing data": "data not found",
        "empty data": "holds no images",
        "wrong size": "zizi dataset prepare",
        "no D": "no discriminator",
        "kimg 0": "more than 0",
        "kimg negative": "more than 0",
        "not a run": "not a zizi run folder",
        "unknown key": "did you mean 'r1_gamma'",
        "both sources": "not both",
        "no source": "--resume",
    }[case]
    assert expect in line
    assert not list(out.glob("*/latest.safetensors")) if out.exists() else True


def _start(tmp_path, tiny_data, tiny_ckpt, *extra) -> tuple[subprocess.Popen, Path]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "zizi",
        "train",
        "--data",
        str(tiny_data),
        "--resume",
        str(tiny_ckpt),
        "--out",
        str(tmp_path / "runs"),
        *TINY_SET_FLAGS,
        *map(str, extra),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, tmp_path / "runs" / "00000-faces"


def _wait_for(cond, proc, timeout=240.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"zizi train ended early: {proc.communicate()}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("timed out waiting for the run")


def test_sigterm_mid_run_snapshots_and_exits_0(tmp_path, tiny_data, tiny_ckpt):
    proc, run_dir = _start(tmp_path, tiny_data, tiny_ckpt, "--kimg", 100)
    # frame 8 exists = two steps are done and training is under way
    _wait_for(lambda: (run_dir / "frames" / "frame-000000000008.safetensors").exists(), proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "stopped on request" in err
    latest = run_dir / "latest.safetensors"
    ck = load_checkpoint(latest, verify=True)
    assert ck.train["nimg"] >= 8 and {"G", "G_ema", "D"} <= set(ck.tensors)


@pytest.mark.slow
def test_sigkill_then_resume_completes(tmp_path, tiny_data, tiny_ckpt):
    proc, run_dir = _start(tmp_path, tiny_data, tiny_ckpt, "--kimg", 0.04, "--snap-kimg", 0.008)
    _wait_for(lambda: len(list_snapshots(run_dir)) >= 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    r = invoke("train", "--resume", run_dir)
    assert r.exit_code == 0, r.output
    assert read_header(run_dir / "latest.safetensors")["train"]["nimg"] == 40
    stats = (run_dir / "stats.jsonl").read_text().splitlines()
    nimgs = [int(__import__("json").loads(x)["nimg"]) for x in stats]
    assert nimgs == sorted(nimgs) and nimgs[-1] == 40  # no duplicated ticks from the killed part


@pytest.mark.slow
def test_gpus_2_on_the_cpu_spawns_two_gloo_processes(tmp_path, tiny_data, tiny_ckpt):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "zizi",
        "train",
        "--data",
        str(tiny_data),
        "--resume",
        str(tiny_ckpt),
        "--out",
        str(tmp_path / "runs"),
        *TINY_SET_FLAGS,
        "--kimg",
        "0.008",
        "--gpus",
        "2",
        "--device",
        "cpu",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # rank 1 wrote nothing
    assert read_header(runs[0] / "latest.safetensors")["train"]["rounds"] == 2
