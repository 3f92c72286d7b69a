"""The registry of well-known checkpoints and name resolution (downloads go to 127.0.0.1)."""

from __future__ import annotations

import hashlib
import urllib.request

import pytest

from tests.helpers.http_server import Served, serve
from zizi.errors import DownloadError, ZiziError
from zizi.io import known

BODY = b"\x80\x02" + b"x" * 50_000


def test_registry_entries_are_plausible():
    names = set(known.KNOWN)
    assert {"ffhq-256", "ffhq-512", "ffhq-1024", "ffhq-config-f", "metfaces-1024"} <= names
    for k in known.KNOWN.values():
        assert k.url.startswith("https://") and k.url.endswith(".pkl")
        assert k.format in ("nvidia", "tf")
        assert k.resolution in (256, 512, 1024)
        assert 100 < k.approx_mb < 1000
        # sha256 values are only ever recorded from real downloads, never made up.
        assert k.sha256 is None or len(k.sha256) == 64


def test_unknown_name_suggests():
    with pytest.raises(ZiziError, match="did you mean 'ffhq-1024'"):
        known.resolve("ffhq-1O24", "nowhere")


def test_existing_path_wins(tmp_path):
    f = tmp_path / "ffhq-1024"
    f.write_bytes(BODY)
    got = known.resolve(str(f))
    assert got.path == f and got.name is None
    assert got.sha256 == hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def local_entry(monkeypatch):
    served = Served(files={"/tiny.pkl": BODY})
    base, stop = serve(served)
    entry = known.KnownCheckpoint(
        "tiny-test",
        "https://example.invalid/tiny.pkl",
        "tiny.pkl",
        32,
        "nvidia",
        "test",
        0,
        "t",
        sha256=hashlib.sha256(BODY).hexdigest(),
    )
    monkeypatch.setitem(known.KNOWN, "tiny-test", entry)

    def opener(request, timeout):  # send the real URL's request to the local server
        return urllib.request.urlopen(
            request.full_url.replace("https://example.invalid", base), timeout=timeout
        )

    yield entry, opener, served
    stop()


def test_resolve_downloads_then_reuses(local_entry, tmp_path):
    entry, opener, served = local_entry
    got = known.resolve("tiny-test", tmp_path, opener=opener)
    assert got.downloaded and got.path == tmp_path / "tiny.pkl" and got.url == entry.url
    assert got.sha256 == entry.sha256
    again = known.resolve("tiny-test", tmp_path, opener=opener)
    assert not again.downloaded and again.sha256 == entry.sha256
    assert len(served.requests) == 1


def test_resolve_refuses_corrupt_existing_file(local_entry, tmp_path):
    (tmp_path / "tiny.pkl").write_bytes(b"not it" * 100_000)
    with pytest.raises(DownloadError, match="sha256"):
        known.resolve("tiny-test", tmp_path, opener=local_entry[1])


def test_import_any_records_name_url_and_sha(local_entry, tmp_path, monkeypatch):
    from tests.helpers.tiny import FIXTURES

    body = (FIXTURES / "nvlabs" / "sg2ada-tiny.pkl").read_bytes()
    entry, opener, served = local_entry
    served.files["/tiny.pkl"] = body
    monkeypatch.setitem(
        known.KNOWN, "tiny-test", known.KnownCheckpoint(**{**entry.__dict__, "sha256": None})
    )
    monkeypatch.setattr(known, "download", _with_opener(known.download, opener))
    ckpt = known.import_any("tiny-test", tmp_path, which="G_ema")
    assert ckpt.provenance["known_name"] == "tiny-test"
    assert ckpt.provenance["source_url"] == entry.url
    assert ckpt.provenance["source_sha256"] == hashlib.sha256(body).hexdigest()
    assert set(ckpt.tensors) == {"G_ema", "D"}


def _with_opener(fn, opener):
    def wrapped(*args, **kwargs):
        kwargs["opener"] = opener
        return fn(*args, **kwargs)

    return wrapped


def test_offline_message_names_url_and_folder(monkeypatch, tmp_path):
    from tests.helpers.http_server import free_port

    url = f"http://127.0.0.1:{free_port()}/stylegan2-ffhq.pkl"
    entry = known.KnownCheckpoint("down-test", url, "ffhq.pkl", 1024, "nvidia", "test", 364, "t")
    monkeypatch.setitem(known.KNOWN, "down-test", entry)
    with pytest.raises(DownloadError) as e:
        known.resolve("down-test", tmp_path / "checkpoints")
    msg = str(e.value)
    assert url in msg and str(tmp_path / "checkpoints") in msg and "ffhq.pkl" in msg
