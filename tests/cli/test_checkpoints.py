"""`zizi checkpoints` lists the registry."""

from __future__ import annotations

from click.testing import CliRunner

from zizi.cli import cli


def test_lists_names_urls_and_licences():
    result = CliRunner().invoke(cli, ["checkpoints"])
    assert result.exit_code == 0, result.output
    for name in ("ffhq-256", "ffhq-512", "ffhq-1024", "ffhq-config-f", "metfaces-1024"):
        assert name in result.output
    assert "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/" in result.output
    assert "licence" in result.output


def test_fetch_unknown_name_is_one_line_error():
    result = CliRunner().invoke(cli, ["checkpoints", "--fetch", "ffhq-2048"])
    assert result.exit_code == 1
    assert "did you mean" in result.output and "Traceback" not in result.output
