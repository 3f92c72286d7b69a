"""One render split over processes (`--shard K/N`, torchrun, Slurm arrays) and joined."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import imageio
import pytest

from tests.helpers.cli import invoke
from zizi.render.encode import work_dir
from zizi.render.shards import owner, parse_shard, shard_from_env, shard_range

ROOT = Path(__file__).resolve().parents[2]


def frame_hashes(path: Path) -> list[str]:
    r = imageio.get_reader(str(path))
    out = [hashlib.sha256(f.tobytes()).hexdigest() for f in r]
    r.close()
    return out


# three interpreters with torch: ~20 s on a busy 2-core machine, so with -m slow (.ci/run
# runs it); the shard arithmetic and its refusals below stay in the default run.
@pytest.mark.slow
def test_three_shard_processes_and_the_join_equal_one_render(tiny_run, tmp_path):
    args = [
        "render",
        "shift",
        str(tiny_run),
        "--frames",
        "11",
        "--segment",
        "3",
        "--seeds",
        "1,2",
        "--grid",
        "2x1",
        "--device",
        "cpu",
    ]
    single = tmp_path / "one" / "v.mp4"
    single.parent.mkdir()
    r = invoke(*args, "--out", single)
    assert r.exit_code == 0, r.output
    shared = tmp_path / "shared" / "v.mp4"
    shared.parent.mkdir()
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "RANK",
            "WORLD_SIZE",
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_COUNT",
            "SLURM_ARRAY_TASK_MIN",
        )
    }
    base.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    # one shard each way a cluster names it: --shard, torchrun's env, a Slurm array's env
    ways = [
        (["--shard", "0/3"], {}),
        ([], {"RANK": "1", "WORLD_SIZE": "3"}),
        (
            [],
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_COUNT": "3",
                "SLURM_ARRAY_TASK_MIN": "1",
            },
        ),
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "zizi", *args, "--out", str(shared), *extra],
            env={**base, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for extra, env in ways[:2]
    ]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
        assert "Shard" in out and "--resume" in out
    assert not shared.exists()
    r = invoke(*args, "--out", shared, "--resume")  # shard 2 of 3 has not run: say which
    assert r.exit_code != 0 and "cannot join yet" in r.output and "shard 2/3" in r.output
    assert "frames 9-10" in r.output and not shared.exists()
    extra, env = ways[2]
    last = subprocess.run(
        [sys.executable, "-m", "zizi", *args, "--out", str(shared)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert last.returncode == 0, last.stdout + last.stderr
    r = invoke(*args, "--out", shared, "--resume")
    assert r.exit_code == 0, r.output
    assert frame_hashes(shared) == frame_hashes(single)
    assert len(frame_hashes(single)) == 11
    assert not work_dir(shared).exists()
    assert (shared.parent / "v.mp4.json").is_file()


def test_shard_rejects_force_and_bad_specs(tiny_run, tmp_path):
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--frames",
        4,
        "--out",
        tmp_path / "v.mp4",
        "--shard",
        "1/2",
        "--force",
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "other shards" in r.output
    r = invoke(
        "render",
        "shift",
        tiny_run,
        "--frames",
        4,
        "--out",
        tmp_path / "v.mp4",
        "--shard",
        "2/2",
        "--device",
        "cpu",
    )
    assert r.exit_code != 0 and "0-1" in r.output and "Traceback" not in r.output


def test_shard_ranges_cover_every_segment_once():
    for segs in (1, 4, 7, 100):
        for n in (1, 2, 3, 8):
            got = [s for k in range(n) for s in shard_range(segs, k, n)]
            assert got == list(range(segs))
            assert all(owner(s, segs, n) == k for k in range(n) for s in shard_range(segs, k, n))
    assert parse_shard("2/4") == (2, 4)
    with pytest.raises(Exception, match="K/N"):
        parse_shard("2")


def test_shard_from_env():
    assert shard_from_env({}) is None
    assert shard_from_env({"RANK": "3", "WORLD_SIZE": "8"}) == (3, 8)
    assert shard_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "8"}) == (5, 8)
    slurm1 = {
        "SLURM_ARRAY_TASK_ID": "8",
        "SLURM_ARRAY_TASK_COUNT": "8",
        "SLURM_ARRAY_TASK_MIN": "1",
    }
    assert shard_from_env(slurm1) == (7, 8)
    with pytest.raises(Exception, match="0-7"):
        shard_from_env({"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_COUNT": "8"})
