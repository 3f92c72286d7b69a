"""`zizi checkpoints` lists the registry."""

from __future__ import annotations

from tests.helpers.cli import invoke


def test_lists_names_urls_and_licences():
    result = invoke("checkpoints")
    assert result.exit_code == 0, result.output
    for name in ("ffhq-256", "ffhq-512", "ffhq-1024", "ffhq-config-f", "metfaces-1024"):
        assert name in result.output
    assert "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/" in result.output
    assert "licence" in result.output


def test_fetch_unknown_name_is_one_line_error():
    result = invoke("checkpoints", "--fetch", "ffhq-2048")
    assert result.exit_code == 1
    assert "did you mean" in result.output and "Traceback" not in result.output


def test_import_by_name_offline_is_one_clear_line(monkeypatch, tmp_path):
    from tests.helpers.http_server import free_port
    from zizi.io import known

    url = f"http://127.0.0.1:{free_port()}/ffhq-res1024.pkl"
    entry = known.KnownCheckpoint(
        "ffhq-1024", url, "ffhq-res1024.pkl", 1024, "nvidia", "test", 364, "t"
    )
    monkeypatch.setitem(known.KNOWN, "ffhq-1024", entry)
    result = invoke(
        "import",
        "ffhq-1024",
        "--checkpoints-dir",
        tmp_path / "ck",
        "--out",
        tmp_path / "o.safetensors",
    )
    assert result.exit_code == 1
    assert url in result.output and str(tmp_path / "ck") in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o.safetensors").exists()
