"""One name and one definition per option across the CLI (issue #27 item 6).

`generate` and `render` draw the same latents, so --seeds, --trunc, --trunc-cutoff,
--noise-mode and --class are defined once (`zizi/cli/options.py`). Options renamed to
match the rest of the CLI (`mirror`/`project --ckpt` -> `--checkpoint`, `checkpoints
--dir` -> `--checkpoints-dir`, as `import` names it) still accept the old spelling,
which --help and error messages no longer show.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.cli import invoke

CLI_DIR = Path(__file__).resolve().parents[2] / "zizi" / "cli"
SHARED = (
    "--seeds",
    "--trunc",
    "--trunc-cutoff",
    "--noise-mode",
    "--class",
    "--checkpoints-dir",
    "--checkpoint",
    "--mix-rows",
    "--mix-cols",
    "--mix-styles",
)


def _defined_in(name: str) -> list[str]:
    """The files under zizi/cli whose `click.option(...)` calls declare `name`."""
    found = []
    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "option"
                and any(isinstance(a, ast.Constant) and a.value == name for a in node.args)
            ):
                found.append(path.name)
    return found


@pytest.mark.parametrize("name", SHARED)
def test_a_shared_option_is_defined_once(name):
    assert _defined_in(name) == ["options.py"]


def test_generate_and_render_take_the_same_latent_options():
    from zizi.cli.generate import generate
    from zizi.cli.render import shift_cmd, walk_cmd

    def spec(cmd):
        return {
            p.opts[0]: (p.name, type(p.type).__name__, getattr(p.type, "choices", None), p.default)
            for p in cmd.params
            if p.opts and p.opts[0] in SHARED[:5]
        }

    assert len(spec(generate)) == 5
    assert spec(generate) == spec(walk_cmd) == spec(shift_cmd)


def run(*args) -> str:
    r = invoke(*[str(a) for a in args])
    return r.output


@pytest.mark.parametrize("command", [["mirror"], ["mirror", "serve"], ["project"]])
def test_checkpoint_is_shown_and_ckpt_is_not(command):
    out = run(*command, "--help")
    assert "--checkpoint CHECKPOINT" in out and "--ckpt" not in out


def test_the_old_ckpt_spelling_still_works_and_errors_name_the_new_one(tmp_path):
    missing = tmp_path / "nope.safetensors"
    args = ["project", tmp_path / "me.png", "--out", tmp_path / "me.safetensors"]
    old = run(*args, "--ckpt", missing)
    assert old == run(*args, "--checkpoint", missing)
    assert f"--checkpoint {missing} not found" in old and "No such option" not in old
    lacking = run(*args)
    assert "Missing option '--checkpoint'" in lacking and "--ckpt" not in lacking


def test_checkpoints_dir_is_the_name_import_uses_and_dir_still_works(tmp_path):
    new = run("checkpoints", "--checkpoints-dir", tmp_path / "ck")
    assert f"{tmp_path / 'ck'}/" in new
    assert run("checkpoints", "--dir", tmp_path / "ck") == new
    shown = run("checkpoints", "--help")
    assert "--checkpoints-dir" in shown and "--dir" not in shown.replace("--checkpoints-dir", "")
    assert "--checkpoints-dir" in run("import", "--help")
