"""The README's fresh-machine commands are the ones CI runs, and what README.md and docs/
show is real: every relative link and image resolves (every #anchor to a heading), every
`zizi ...` line in a code block parses against the CLI, every script it names exists."""

from __future__ import annotations

import importlib.util
import re
import shlex
import unicodedata
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A path in a command that starts with one of these is a file of this repository.
REPO_DIRS = ("benchmarks/", "configs/", "docs/", "scripts/", "tests/", "zizi/")


def _commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_ci_runs_the_readme_test_command():
    main_job, tests = _commands()[:2]
    assert "pytest" in tests and "scripts/setup.sh" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests.strip() in [line.strip() for line in ci]


def test_main_job_uses_shipped_files():
    main_job = _commands()[0]
    for path in re.findall(r"tests/fixtures/\S+", main_job):
        assert (ROOT / path).is_file(), path


def test_main_job_is_the_demo_and_its_frame_is_shipped():
    main_job = _commands()[0]
    assert main_job.strip() == "bash scripts/setup.sh && .venv/bin/zizi demo"
    section = (ROOT / "README.md").read_text().split("## Fresh machine", 1)[1].split("\n## ", 1)[0]
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", section)
    assert images, "the fresh-machine section shows a frame of the demo video"
    for path in images:
        assert (ROOT / path).is_file(), path


# ---- Markdown: fenced code, headings, links ------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _split_fences(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The prose lines (code blocks blanked) and each fenced block as (info string, body)."""
    prose, blocks, body, fence, info = [], [], [], None, ""
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is None and m:
            fence, info, body = m.group(1), line.strip()[3:].strip(), []
            prose.append("")
        elif fence is not None and line.strip().startswith(fence):
            blocks.append((info, "\n".join(body)))
            fence = None
            prose.append("")
        elif fence is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    return prose, blocks


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = unicodedata.normalize("NFC", text.strip().lower())
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    prose, _ = _split_fences(path.read_text())
    seen: dict[str, int] = {}
    out = set()
    for line in prose:
        m = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    for line in prose:  # explicit anchors: <a id="x"></a>
        out.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line))
    return out


def _links(path: Path) -> list[str]:
    """Every link and image target in the file's prose (not in code)."""
    prose, _ = _split_fences(path.read_text())
    text = "\n".join(prose)
    text = re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)  # inline code is not a link
    targets = re.findall(
        r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text
    )
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", text, flags=re.M)
    targets += re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", text)
    return targets


def _broken_links(path: Path) -> list[str]:
    broken = []
    for target in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_link_and_image_resolves(doc):
    assert _broken_links(doc) == []


def test_the_link_check_catches_a_broken_link(tmp_path):
    (tmp_path / "b.md").write_text("# Where to read on\n\ntext\n")
    (tmp_path / "a.md").write_text(
        "see [b](b.md#where-to-read-on), ![x](missing.png), [c](c.md), [d](b.md#nowhere)\n"
        "`[not a link](nowhere.md)`\n```\n[in code](nowhere.md)\n```\n"
    )
    assert _broken_links(tmp_path / "a.md") == [
        "missing.png: no such file",
        "c.md: no such file",
        "b.md#nowhere: no heading #nowhere in b.md",
    ]


# ---- Commands shown in code blocks ---------------------------------------------------------


def _shell_lines(block: str) -> list[str]:
    """A code block's command lines: continuations joined, split at && ; | (not quoted)."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"^\s*\$\s+", "", line)
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words = list(lexer)
        except ValueError:  # prose in an untagged block ("it's ...")
            continue
        part: list[str] = []
        for w in words + [";"]:
            if w and set(w) <= set(";&|"):
                if part:
                    out.append(part)
                part = []
            else:
                part.append(w)
    return out


def _zizi_command(words: list[str]) -> list[str] | None:
    """The zizi arguments of a command line, or None when it does not run zizi."""
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # OMP_NUM_THREADS=1 ...
        words = words[1:]
    if not words:
        return None
    head = words[0]
    if head == "zizi" or head.endswith("/zizi"):
        return words[1:]
    if head in ("torchrun", "python", "python3") or head.endswith("/python"):
        if "-m" in words and words[words.index("-m") + 1 : words.index("-m") + 2] == ["zizi"]:
            return words[words.index("-m") + 2 :]
    if head == "sbatch" and "--wrap" in words:
        return _zizi_command(shlex.split(words[words.index("--wrap") + 1]))
    return None


def _cli_error(args: list[str]) -> str | None:
    """Why `zizi ARGS` would not parse (no such command or option, a bad choice or
    number, a stray argument), or None. Parses only: nothing runs, no file is read."""
    from zizi.cli import cli

    cmd: click.Command = cli
    args, name = list(args), "zizi"
    while isinstance(cmd, click.Group) and args and not args[0].startswith("-"):
        sub = cmd.get_command(click.Context(cmd), args[0])
        if sub is None:
            return f"{name}: no command {args[0]!r}"
        cmd, name, args = sub, f"{name} {args[0]}", args[1:]
    # A command that hands over to a sub-command of its own (`zizi mirror serve`).
    ctx = cmd.make_context(name, list(args), resilient_parsing=True)
    if ctx.command is not cmd:
        cmd, name, args = ctx.command, ctx.info_name, args[1:]
    # The parser alone: options and arity, no callbacks, no file opened.
    pctx = click.Context(cmd, info_name=name)
    try:
        opts, extra, _ = cmd.make_parser(pctx).parse_args(args=list(args))
    except click.UsageError as e:
        return f"{name}: {e.format_message()}"
    if extra and not pctx.allow_extra_args:
        return f"{name}: unexpected argument(s) {extra}"
    # Values that need no file to check: choices and numbers.
    for param in cmd.params:
        checked = (click.Choice, click.types.IntParamType, click.types.FloatParamType)
        if param.name in opts and isinstance(param.type, checked):
            try:
                param.type_cast_value(pctx, opts[param.name])
            except click.BadParameter as e:
                return f"{name}: {e.format_message()}"
    return None


def _path_error(words: list[str]) -> str | None:
    """A script or repository path the command names that does not exist."""
    for w in words:
        w = w.split("=", 1)[-1].split("::", 1)[0]
        if w.startswith(REPO_DIRS) and not (ROOT / w).exists():
            return f"{w}: no such file"
    head = words[0] if words else ""
    if head == "bash" and len(words) > 1 and not (ROOT / words[1]).is_file():
        return f"{words[1]}: no such script"
    if head in ("python", "python3") or head.endswith("/python"):
        if "-m" in words and words.index("-m") + 1 < len(words):
            module = words[words.index("-m") + 1]
            if importlib.util.find_spec(module) is None:
                return f"python -m {module}: no such module"
        elif len(words) > 1 and words[1].endswith(".py") and not (ROOT / words[1]).is_file():
            return f"{words[1]}: no such script"
    return None


def _command_errors(text: str) -> list[str]:
    errors = []
    _, blocks = _split_fences(text)
    for info, body in blocks:
        if info not in ("", "bash", "sh", "shell", "console"):
            continue
        for words in _shell_lines(body):
            if words[:1] == ["compute-sanitizer"]:  # the wrapped python command
                words = words[next(i for i, w in enumerate(words) if "python" in w) :]
            error = _path_error(words)
            args = _zizi_command(words)
            if error is None and args is not None:
                error = _cli_error(args)
            if error:
                errors.append(f"{' '.join(words)}\n    {error}")
    return errors


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_command_shown_is_real(doc):
    assert _command_errors(doc.read_text()) == []


def _named_option_errors(text: str) -> list[str]:
    """In `zizi ...` code spans of prose (often a fragment: `zizi train --resume BASE`),
    the command and every --option named must exist; values and arity are not checked."""
    from zizi.cli import cli

    prose, _ = _split_fences(text)
    errors = []
    for span in re.findall(r"`([^`]+)`", re.sub(r"\s+", " ", "\n".join(prose))):
        words = span.split()
        if not words or words[0] not in ("zizi", ".venv/bin/zizi"):
            continue
        cmd, rest, name = cli, words[1:], "zizi"
        while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
            if rest[0] in ("...", "…") or rest[0].isupper():  # `zizi COMMAND --help`
                cmd = None
                break
            cmd = cmd.get_command(click.Context(cmd), rest[0])
            if cmd is None:
                errors.append(f"`{span}`: no command {rest[0]!r}")
                break
            name, rest = f"{name} {rest[0]}", rest[1:]
        if cmd is None:
            continue
        if isinstance(cmd, click.Group):  # `zizi render --size`: an option of a sub-command
            subs = [cmd.get_command(click.Context(cmd), n) for n in cmd.list_commands(None)]
        else:
            subs = [cmd]
        if name == "zizi mirror":  # `zizi mirror serve` is reached through mirror itself
            from zizi.cli.mirror import serve

            subs.append(serve)
        known = {o for c in subs for p in c.params for o in getattr(p, "opts", [])}
        known |= {"--help", "-h"}
        for w in rest:
            opt = w.split("=", 1)[0]
            if opt.startswith("--") and opt not in known:
                errors.append(f"`{span}`: {name} has no option {opt}")
    return errors


def test_every_command_named_in_the_readme_prose_exists():
    assert _named_option_errors((ROOT / "README.md").read_text()) == []
    made_up = (
        "Run `zizi train --resume RUN --epochs 3` or `zizi trian`, `zizi render --size 9`"
        ", `zizi COMMAND --help`, `zizi mirror serve --host H`."
    )
    assert _named_option_errors(made_up) == [
        "`zizi train --resume RUN --epochs 3`: zizi train has no option --epochs",
        "`zizi trian`: no command 'trian'",
    ]


def test_the_readme_shows_zizi_commands():
    _, blocks = _split_fences((ROOT / "README.md").read_text())
    shown = [w for _, b in blocks for w in _shell_lines(b) if _zizi_command(w) is not None]
    assert len(shown) >= 8  # the demo, the workflow, the workshop, the mirror


@pytest.mark.parametrize(
    "line, complaint",
    [
        ("zizi trian --data d", "no command 'trian'"),
        ("zizi train --data d --epochs 3", "No such option '--epochs'"),
        ("zizi dataset prepare a --out b --align nose", "'nose' is not one of"),
        ("zizi render shift r --out x.mp4 --grid 3x2 --fps many", "'many' is not a valid float"),
        ("zizi info a.safetensors b.safetensors", "unexpected"),
        ("zizi mirror serve --ckpt a --shifted b --encoder e --hots 0.0.0.0", "No such option"),
        ("bash scripts/nosuch.sh", "no such file"),
        (".venv/bin/python -m nosuchmodule", "no such module"),
        ("zizi train --config configs/train/nosuch.yaml", "no such file"),
    ],
)
def test_the_command_check_catches_a_made_up_command(line, complaint):
    errors = _command_errors(f"```bash\n{line}\n```\n")
    assert len(errors) == 1 and complaint in errors[0], errors


def test_the_command_check_passes_real_commands():
    text = (
        "```bash\nOMP_NUM_THREADS=1 .venv/bin/zizi demo --quick --device cpu  # quick\n"
        "zizi mirror serve --ckpt a --shifted b --encoder e --host 0.0.0.0\n"
        "torchrun --nproc-per-node=8 -m zizi render shift r --out x.mp4 --loop \\\n"
        "    --seconds 2m\nbash scripts/setup.sh && .venv/bin/python -m pytest -q\n```\n"
    )
    assert _command_errors(text) == []
