"""`zizi mirror serve`: the live mirror in a real headless Chromium with a fake camera.

The server runs as its own process with HOME, TMPDIR, XDG_CACHE_HOME and its working folder
pointed at empty folders; at the end every writable place is searched for a file created
during the run that holds a frame's bytes or pixels.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.browser import CHROMIUM, Browser, write_y4m
from tests.helpers.cli import invoke
from zizi.io.checkpoint import load_checkpoint, save_checkpoint
from zizi.mirror.encoder_train import EncoderTrainConfig, prepare, train_encoder

aiohttp = pytest.importorskip("aiohttp")
DEMO = Path(__file__).parents[2] / "zizi" / "demo" / "base-32.safetensors"
ROOT = Path(__file__).parents[2]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")


def _face_frame(dx: int = 0) -> np.ndarray:
    """A 480x640 camera frame with a real face (scikit-image's astronaut, public domain)."""
    try:
        from skimage import data

        face = Image.fromarray(data.astronaut()).crop((120, 0, 420, 300)).resize((300, 300))
    except ImportError:  # the demo's portrait generator draws a face too (centre framing)
        from zizi.demo.portraits import draw_portrait

        face = draw_portrait("base", 0, 0, size=300)
    canvas = Image.new("RGB", (640, 480), (40, 44, 52))
    canvas.paste(face, (170 + dx, 90))
    return np.asarray(canvas)


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    enc = root / "models" / "enc.safetensors"
    t, info = prepare(DEMO, enc, EncoderTrainConfig(kimg=0.016, batch=8), torch.device("cpu"))
    train_encoder(t, enc, info)
    ck = load_checkpoint(DEMO, nets=["G_ema"])
    gen = torch.Generator().manual_seed(3)
    ck.tensors["G_ema"] = {
        k: v + 0.05 * torch.randn(v.shape, generator=gen) * v.std()
        if v.is_floating_point() and v.numel() > 1
        else v
        for k, v in ck.tensors["G_ema"].items()
    }
    shifted = save_checkpoint(root / "models" / "shifted.safetensors", ck)
    frames = [_face_frame(dx) for dx in (0, 4, 8, 4)]
    camera = write_y4m(root / "camera.y4m", frames)

    sandbox = {name: root / "sandbox" / name for name in ("home", "tmp", "cache", "cwd")}
    for p in sandbox.values():
        p.mkdir(parents=True)
    env = {
        **os.environ,
        "HOME": str(sandbox["home"]),
        "TMPDIR": str(sandbox["tmp"]),
        "XDG_CACHE_HOME": str(sandbox["cache"]),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    shm_before = set(Path("/dev/shm").iterdir()) if Path("/dev/shm").is_dir() else set()
    started = time.time()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zizi",
            "mirror",
            "serve",
            "--ckpt",
            DEMO,
            "--shifted",
            shifted,
            "--encoder",
            enc,
            "--port",
            "0",
            "--device",
            "cpu",
        ],
        cwd=sandbox["cwd"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = proc.stdout.readline().decode()
    if "http://" not in line:
        proc.kill()
        raise AssertionError(f"server did not start: {line}{proc.stderr.read().decode()}")
    url = line.split()[2]
    world = {
        "url": url,
        "root": root,
        "camera": camera,
        "frames": frames,
        "proc": proc,
        "sandbox": sandbox,
        "shm_before": shm_before,
        "started": started,
        "enc": enc,
        "shifted": shifted,
        "sent": [],
    }
    yield world
    proc.terminate()
    proc.wait(10)


def _health(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url + "health", timeout=10) as r:
        return json.loads(r.read())


def run(coro):
    return asyncio.run(coro)


@needs_chromium
def test_page_shows_both_reflections_beside_the_camera(live, tmp_path):
    async def go():
        async with Browser(tmp_path / "profile", live["camera"]) as b:
            tab = await b.open(live["url"])
            await tab.wait_for("window.zizi && window.zizi.received >= 5")
            consent = await tab.eval("document.getElementById('consent').textContent")
            # the reflections are drawn: each canvas has varied pixels, and they differ
            stats = await tab.eval("""(() => ['base', 'shifted'].map(id => {
                const c = document.getElementById(id), d = c.getContext('2d')
                  .getImageData(0, 0, c.width, c.height).data;
                let s = 0, s2 = 0;
                for (let i = 0; i < d.length; i += 4) { s += d[i]; s2 += d[i]*d[i]; }
                const n = d.length / 4; return [s / n, Math.sqrt(s2 / n - (s / n) ** 2)]; }))()""")
            live_w = await tab.eval("document.getElementById('live').videoWidth")
            state = await tab.state()
            shot = await tab.screenshot(tmp_path / "page.png")
            kiosk = await b.open(live["url"] + "?kiosk=1")
            await kiosk.wait_for("window.zizi && window.zizi.received >= 2")
            hidden = await kiosk.eval("""[
                getComputedStyle(document.getElementById('controls')).display,
                getComputedStyle(document.getElementById('status')).display,
                document.body.classList.contains('kiosk')]""")
            await kiosk.screenshot(tmp_path / "kiosk.png")
            return consent, stats, live_w, state, shot, hidden

    consent, stats, live_w, state, shot, hidden = run(go())
    assert "Nothing is stored" in consent
    assert live_w == 640 and state["errors"] == 0
    for mean, std in stats:
        assert 5 < mean < 250 and std > 5, stats
    assert stats[0] != stats[1]
    from zizi.data.align import faces_available

    # the astronaut's face is found in the 320-px frames (the centre is the fallback)
    assert state["framed"] == ("face" if faces_available() else "center")
    assert hidden == ["none", "none", True]
    h = _health(live["url"])
    assert h["frames_served"] >= 7
    assert h["latency_ms"]["mean"] > 0 and h["latency_ms"]["p95"] >= h["latency_ms"]["mean"] * 0.5
    assert set(h) == {
        "frames_served",
        "frames_dropped",
        "frames_rejected",
        "latency_ms",
        "fps",
        "uptime_s",
        "clients",
    }
    img = np.asarray(Image.open(shot))
    assert img.shape[1] == 1000


async def _socket(url: str, session):
    ws = await session.ws_connect(url.replace("http://", "ws://") + "ws", max_msg_size=0)
    hello = json.loads((await ws.receive()).data)
    assert "hello" in hello
    return ws


async def _reflection(ws) -> np.ndarray:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 30)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return np.asarray(Image.open(io.BytesIO(msg.data)))
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        assert "error" not in json.loads(msg.data), msg.data


def test_garbage_and_text_are_answered_and_the_socket_goes_on(live):
    frame = _jpeg(live["frames"][0])
    live["sent"].append(frame)

    async def go():
        async with aiohttp.ClientSession() as s:
            ws = await _socket(live["url"], s)
            await ws.send_bytes(b"\x00garbage\xff" * 100)
            e1 = json.loads((await ws.receive()).data)
            await ws.send_str("hello?")
            e2 = json.loads((await ws.receive()).data)
            # a PNG header that claims a 100000 x 100000 canvas: refused before decoding
            bomb = io.BytesIO()
            Image.new("RGB", (8, 8)).save(bomb, format="PNG")
            b = bytearray(bomb.getvalue())
            b[16:24] = (100000).to_bytes(4, "big") * 2
            b[29:33] = zlib.crc32(bytes(b[12:29])).to_bytes(4, "big")  # a valid header
            await ws.send_bytes(bytes(b))
            e3 = json.loads((await ws.receive()).data)
            await ws.send_bytes(frame)
            img = await _reflection(ws)
            await ws.close()
            return e1, e2, e3, img

    before = _health(live["url"])
    e1, e2, e3, img = run(go())
    assert "not a JPEG/PNG/WebP" in e1["error"]
    assert "binary" in e2["error"]
    assert "px a side" in e3["error"]
    assert img.shape == (32, 64, 3)
    after = _health(live["url"])
    assert after["frames_rejected"] - before["frames_rejected"] == 3
    assert after["frames_served"] == before["frames_served"] + 1


def test_the_server_draws_the_encoders_reflection(live):
    """What comes back is the in-process Reflector's answer for the same frame."""
    from zizi.mirror.live import Reflector

    frame = _jpeg(live["frames"][1])
    live["sent"].append(frame)

    async def go():
        async with aiohttp.ClientSession() as s:
            ws = await _socket(live["url"], s)
            await ws.send_bytes(frame)
            img = await _reflection(ws)
            await ws.close()
            return img

    got = run(go())
    mine = Reflector(DEMO, live["shifted"], live["enc"], torch.device("cpu")).reflect(frame)
    want = np.asarray(Image.open(io.BytesIO(mine.png)))
    assert np.abs(got.astype(int) - want).max() <= 1


def test_a_huge_frame_closes_only_its_socket(live):
    async def go():
        async with aiohttp.ClientSession() as s:
            ws = await _socket(live["url"], s)
            await ws.send_bytes(os.urandom(3 * 1024 * 1024))
            msg = await asyncio.wait_for(ws.receive(), 30)
            code = ws.close_code
            other = await _socket(live["url"], s)
            frame = _jpeg(live["frames"][2])
            live["sent"].append(frame)
            await other.send_bytes(frame)
            img = await _reflection(other)
            await other.close()
            return msg.type, code, img

    kind, code, img = run(go())
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert code == 1009  # message too big
    assert img.shape == (32, 64, 3)


def test_a_socket_closed_mid_frame_leaves_the_server_serving(live):
    async def go():
        async with aiohttp.ClientSession() as s:
            for _ in range(3):  # send and vanish before the answer
                ws = await _socket(live["url"], s)
                await ws.send_bytes(_jpeg(live["frames"][3]))
                await ws.close()
            ws = await _socket(live["url"], s)
            await ws.send_bytes(_jpeg(live["frames"][3]))
            img = await _reflection(ws)
            await ws.close()
            return img

    assert run(go()).shape == (32, 64, 3)
    deadline = time.time() + 10
    while _health(live["url"])["clients"] and time.time() < deadline:
        time.sleep(0.1)
    assert _health(live["url"])["clients"] == 0


@needs_chromium
def test_two_pages_at_once_and_a_tab_closed_mid_stream(live, tmp_path):
    async def go():
        async with Browser(tmp_path / "profile", live["camera"]) as b:
            a = await b.open(live["url"])
            c = await b.open(live["url"])
            await a.wait_for("window.zizi && window.zizi.received >= 1")
            await c.wait_for("window.zizi && window.zizi.received >= 1")
            clients = _health(live["url"])["clients"]
            ra0, rc0 = (await a.state())["received"], (await c.state())["received"]
            await a.wait_for(f"window.zizi.received >= {ra0 + 3}")
            await c.wait_for(f"window.zizi.received >= {rc0 + 3}")  # both are served
            await a.close()  # mid-stream: its frames may be in flight
            rc1 = (await c.state())["received"]
            await c.wait_for(f"window.zizi.received >= {rc1 + 5}")
            return clients, (await c.state())

    clients, state = run(go())
    assert clients == 2
    assert state["errors"] == 0
    assert _health(live["url"])["clients"] in (0, 1)


@needs_chromium
def test_the_page_reconnects_by_itself(live, tmp_path):
    """The server drops the page's socket (an over-limit message): the page reconnects by
    itself and the reflections go on."""

    async def go():
        async with Browser(tmp_path / "profile", live["camera"]) as b:
            tab = await b.open(live["url"])
            await tab.wait_for("window.zizi && window.zizi.received >= 1")
            # make the page itself send an over-limit message: the server closes that socket
            await tab.eval("ws.send(new Uint8Array(3 * 1024 * 1024)); 1")
            await tab.wait_for("window.zizi.reconnects >= 1", 20)
            r = (await tab.state())["received"]
            await tab.wait_for(f"window.zizi.received >= {r + 3}", 30)
            return await tab.state()

    state = run(go())
    assert state["reconnects"] >= 1 and state["state"].startswith("reflecting")


def test_serve_refuses_bad_input_in_one_line(live, tmp_path):

    def serve(*args):
        return invoke(
            "mirror",
            "serve",
            "--ckpt",
            DEMO,
            "--shifted",
            live["shifted"],
            "--device",
            "cpu",
            *map(str, args),
        )

    # an encoder made for another model
    r = serve("--encoder", live["root"] / "models" / "shifted.safetensors")
    assert r.exit_code == 1 and "not a zizi encoder" in r.output and "Traceback" not in r.output
    r = serve("--encoder", live["enc"], "--tls-cert", live["enc"])
    assert r.exit_code == 2 and "--tls-key" in r.output
    port = live["url"].rsplit(":", 1)[1].strip("/")
    r = serve("--encoder", live["enc"], "--port", port)  # taken by the running server
    assert r.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in r.output
    help_text = " ".join(invoke("mirror", "serve", "--help").output.split())
    assert "Keeps nothing" in help_text and "0.0.0.0" in help_text


def test_the_page_names_each_model_under_its_own_half(live):
    """The caption under each reflection names the model that drew it (the CLI hands the
    base's and the fine-tune's names to the page; swapped, a visitor is told the wrong one)."""
    import urllib.request

    with urllib.request.urlopen(live["url"], timeout=10) as r:
        page = r.read().decode()
    assert "base model (base-32.safetensors)" in page
    assert "shifted model (shifted.safetensors)" in page


def test_zz_nothing_was_kept(live):
    """Last: every writable place the server could use holds no file from this run with a
    frame's bytes or pixels (the camera file and the models, written by the test, aside)."""
    live["proc"].terminate()
    out, err = live["proc"].communicate(timeout=20)
    needles = [f[:4096] for f in live["sent"]]  # the JPEG frames as sent
    for arr in live["frames"]:
        needles.append(arr[240, 170:470].tobytes())  # a row of raw RGB pixels through the face
        ycc = np.asarray(Image.fromarray(arr).convert("YCbCr"))[..., 0]
        needles.append(ycc[240, 170:470].tobytes())  # the same row as the camera's Y plane
    places = [*live["sandbox"].values(), Path("/dev/shm")]
    created = []
    for place in places:
        for p in place.rglob("*") if place.is_dir() else []:
            if place == Path("/dev/shm") and p in live["shm_before"]:
                continue
            try:
                if p.is_file() and p.stat().st_mtime >= live["started"] - 1:
                    created.append(p)
            except OSError:
                continue
    sandbox_files = [p for p in created if str(p).startswith(str(live["root"]))]
    assert sandbox_files == [], sandbox_files  # the server wrote nothing at all
    for p in created:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        assert not any(n in data for n in needles), p
    # the console says where it listens and nothing of the frames
    assert len(out) < 2000 and len(err) < 2000, (out[-500:], err[-500:])
