"""The downloader against a local HTTP server: success, resume, refusal, offline."""

from __future__ import annotations

import hashlib

import pytest

from tests.helpers.http_server import Served, free_port, serve
from zizi.errors import DownloadError
from zizi.io.download import download

BODY = bytes(range(256)) * 4000  # ~1 MB, more than one read chunk


@pytest.fixture
def server():
    served = Served(files={"/ckpt.pkl": BODY})
    base, stop = serve(served)
    yield base, served
    stop()


def test_success_writes_file_and_hash(server, tmp_path):
    base, served = server
    got = download(f"{base}/ckpt.pkl", tmp_path / "c.pkl", expected_size=len(BODY))
    assert (tmp_path / "c.pkl").read_bytes() == BODY
    assert got.sha256 == hashlib.sha256(BODY).hexdigest()
    assert not got.resumed
    assert not (tmp_path / "c.pkl.part").exists()


def test_resume_after_cut_within_one_call(server, tmp_path):
    base, served = server
    served.cut_after["/ckpt.pkl"] = 300_000
    got = download(f"{base}/ckpt.pkl", tmp_path / "c.pkl", sha256=hashlib.sha256(BODY).hexdigest())
    assert got.resumed
    assert (tmp_path / "c.pkl").read_bytes() == BODY
    assert served.requests[1] == ("/ckpt.pkl", "bytes=300000-")


def test_cut_keeps_part_then_next_run_resumes(server, tmp_path):
    base, served = server
    served.cut_after["/ckpt.pkl"] = 123_456
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download(f"{base}/ckpt.pkl", tmp_path / "c.pkl", retries=0)
    part = tmp_path / "c.pkl.part"
    assert part.stat().st_size == 123_456
    assert not (tmp_path / "c.pkl").exists()
    got = download(f"{base}/ckpt.pkl", tmp_path / "c.pkl")
    assert got.resumed and got.size == len(BODY)
    assert (tmp_path / "c.pkl").read_bytes() == BODY
    assert served.requests[-1] == ("/ckpt.pkl", "bytes=123456-")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"expected_size": len(BODY) + 1}, "expected exactly"),
        ({"sha256": "0" * 64}, "does not match"),
        ({"min_size": len(BODY) * 10}, "not a checkpoint"),
    ],
)
def test_mismatch_refused_and_not_kept(server, tmp_path, kwargs, message):
    base, _ = server
    with pytest.raises(DownloadError, match=message):
        download(f"{base}/ckpt.pkl", tmp_path / "c.pkl", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_one_clear_message(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{base}/missing.pkl", tmp_path / "m.pkl")


def test_server_down_gives_offline_message(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/ckpt.pkl"
    with pytest.raises(DownloadError) as e:
        download(url, tmp_path / "sub" / "c.pkl")
    msg = str(e.value)
    assert url in msg and str(tmp_path / "sub") in msg and "c.pkl" in msg
    assert "\n" not in msg
