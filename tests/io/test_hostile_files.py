"""Bad and hostile checkpoint files are refused clearly, with nothing executed or written."""

import os
import pickle
import shutil

import pytest

from tests.helpers.cli import invoke
from tests.helpers.tiny import FIXTURES
from zizi.errors import CheckpointError, UnsafePickleError
from zizi.io.importers import import_checkpoint

FIXTURE = FIXTURES / "nvlabs" / "sg2ada-tiny.pkl"


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _import_cli(tmp_path, src):
    out = tmp_path / "out.safetensors"
    result = invoke("import", src, "--out", out)
    return result, out


def test_os_system_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    src = tmp_path / "evil.pkl"
    src.write_bytes(pickle.dumps({"G": _Evil(marker)}))
    with pytest.raises(UnsafePickleError, match=r"'(posix|os|nt)\.system'"):
        import_checkpoint(src)
    result, out = _import_cli(tmp_path, src)
    assert result.exit_code != 0
    assert "system" in result.output and "allow-list" in result.output
    assert "Traceback" not in result.output
    assert not marker.exists() and not out.exists()


def test_disallowed_global_inside_a_real_checkpoint(tmp_path):
    """A genuine network pickle with one hostile object spliced in is refused by name."""
    from tests.helpers.nvlabs_writer import write_nvlabs_pickle
    from tests.helpers.tiny import tiny_modules

    marker = tmp_path / "pwned"
    src = write_nvlabs_pickle(
        tmp_path / "mixed.pkl", *tiny_modules(8), extra_entries={"augment_pipe": _Evil(marker)}
    )
    result, out = _import_cli(tmp_path, src)
    assert result.exit_code == 1 and "system" in result.output
    assert not marker.exists() and not out.exists()


@pytest.mark.parametrize(
    "global_name", ["builtins.eval", "subprocess.Popen", "torch.load", "numpy.load"]
)
def test_other_globals_are_refused(tmp_path, global_name):
    module, name = global_name.rsplit(".", 1)
    src = tmp_path / "g.pkl"
    # protocol-2 GLOBAL opcode + call with an empty tuple
    src.write_bytes(b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R.")
    with pytest.raises(UnsafePickleError, match=global_name.replace(".", r"\.")):
        import_checkpoint(src)


def test_missing_file(tmp_path):
    result, out = _import_cli(tmp_path, tmp_path / "nope.pkl")
    assert result.exit_code != 0 and "nope.pkl" in result.output
    assert (
        "neither a file nor a well-known checkpoint" in result.output
        or "not found" in result.output
    )
    assert not out.exists()


def test_not_a_pickle(tmp_path):
    src = tmp_path / "photo.pkl"
    src.write_bytes(b"\xff\xd8\xff\xe0 this is a jpeg, honestly")
    result, out = _import_cli(tmp_path, src)
    assert result.exit_code == 1
    assert "not a checkpoint zizi can read" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_empty_file(tmp_path):
    src = tmp_path / "empty.pkl"
    src.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        import_checkpoint(src)


@pytest.mark.parametrize("fraction", [0.001, 0.5, 0.999])
def test_truncated_pickle(tmp_path, fraction):
    data = FIXTURE.read_bytes()
    src = tmp_path / "cut.pkl"
    src.write_bytes(data[: int(len(data) * fraction)])
    result, out = _import_cli(tmp_path, src)
    assert result.exit_code == 1, result.output
    assert "truncated" in result.output or "malformed" in result.output
    assert "Traceback" not in result.output and "()" not in result.output  # no empty reason
    assert not out.exists()


def test_pickle_of_wrong_content(tmp_path):
    src = tmp_path / "list.pkl"
    src.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError, match="not an NVIDIA StyleGAN2 network pickle"):
        import_checkpoint(src)


def test_source_folder_untouched(tmp_path):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    shutil.copy(FIXTURE, src_dir / "a.pkl")
    before = {p.name: p.read_bytes() for p in src_dir.iterdir()}
    result, out = _import_cli(tmp_path, src_dir / "a.pkl")
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in src_dir.iterdir()} == before
    assert out.exists()


def test_deeply_nested_pickle_is_one_line(tmp_path):
    from tests.helpers.hostile import nested_pickle

    src = nested_pickle(tmp_path / "deep.pkl")
    result, out = _import_cli(tmp_path, src)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "nests its contents too deeply" in result.output  # was: RecursionError traceback
    assert not out.exists()


@pytest.mark.parametrize("kind", ["pt", "pkl"])
def test_zip_bomb_is_refused_before_decompressing(tmp_path, kind):
    from tests.helpers.hostile import zip_bomb_nvlabs, zip_bomb_pt

    make = zip_bomb_pt if kind == "pt" else zip_bomb_nvlabs
    src = make(tmp_path / f"bomb.{kind}", declared_gib=0.0625)  # 64 MiB in ~70 kB
    result, out = _import_cli(tmp_path, src)
    assert result.exit_code == 1, result.output
    assert "zip bomb" in result.output and "before decompressing" in result.output
    assert not out.exists()


def test_stored_torch_zip_passes_the_size_check(tmp_path):
    """A real torch.save file (records stored, not deflated) is never taken for a bomb."""
    import torch

    from zizi.io.zipcheck import check_zip_sizes

    f = tmp_path / "real.pt"
    torch.save({"w": torch.randn(256, 256), "b": torch.zeros(3)}, f)
    check_zip_sizes(f, f.stat().st_size, str(f))
