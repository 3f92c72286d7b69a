"""Running `zizi` in tests, and what a refusal must look like: one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from zizi.cli import cli


def invoke(*args: object, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """`zizi ARGS...` run in-process by click's CliRunner, each argument str()-ed (paths and
    numbers as a shell would pass them); `result.output` is what a person would read."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, input=input)


def invoke_ok(*args: object, **kw) -> Result:
    """`invoke(...)` that must succeed (its output shown when it does not)."""
    result = invoke(*args, **kw)
    assert result.exit_code == 0, result.output
    return result


def one_line(
    result: Result,
    *words: str,
    code: int | None = None,
    alone: bool = False,
    out: Path | None = None,
) -> str:
    """Assert that `result` is a refusal a person can act on, and return its error line.

    - the exit status is `code` (default: 1, an error, or 2, a usage error);
    - it came through SystemExit, so click printed the message: with CliRunner an uncaught
      exception prints nothing at all, so "Traceback not in the output" alone proves nothing;
    - exactly one `Error:` line, the last one printed (a usage error shows click's
      `Usage:`/`Try --help` hint above it; a training run its progress), holding `words`;
    - `alone`: nothing else was printed;
    - `out`: nothing was left under that name.
    """
    text = result.output
    assert (result.exit_code == code) if code is not None else result.exit_code in (1, 2), text
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a traceback
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], text
    assert not alone or len(lines) == 1, text
    for w in words:
        assert w in errors[0], text
    assert out is None or not out.exists(), f"{out} was left behind"
    return errors[0]
