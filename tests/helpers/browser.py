"""Headless Chromium driven over the DevTools protocol (a few commands, on aiohttp's client).

Used by the live-mirror tests: open pages in tabs, read `window.zizi`, take screenshots, close
a tab mid-stream. The fake camera plays a y4m file the test writes (`write_y4m`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """RGB uint8 frames [H, W, 3] (even sides) -> a 4:2:0 y4m Chromium's fake camera plays."""
    from PIL import Image

    h, w, _ = frames[0].shape
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            y, u, v = Image.fromarray(rgb).convert("YCbCr").split()
            f.write(b"FRAME\n")
            f.write(y.tobytes())
            for c in (u, v):
                f.write(c.resize((w // 2, h // 2), Image.Resampling.BOX).tobytes())
    return path


class Browser:
    """One headless Chromium with a fake camera; `async with Browser(...) as b:`."""

    def __init__(self, profile: Path, camera: Path, size: tuple[int, int] = (1000, 640)) -> None:
        self.args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            f"--window-size={size[0]},{size[1]}",
            "about:blank",
        ]
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}

    async def __aenter__(self) -> Browser:
        import aiohttp

        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = await asyncio.to_thread(self._devtools_url)
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=0)
        self.reader = asyncio.create_task(self._read())
        return self

    def _devtools_url(self) -> str:
        for raw in self.proc.stderr:
            m = re.search(rb"DevTools listening on (ws://\S+)", raw)
            if m:
                return m.group(1).decode()
        raise RuntimeError("chromium did not start its DevTools server")

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            fut = self.waiting.pop(data.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(data)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        mid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[mid] = fut
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        await self.ws.send_str(json.dumps(msg))
        reply = await asyncio.wait_for(fut, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def open(self, url: str) -> Tab:
        target = (await self.send("Target.createTarget", {"url": url}))["targetId"]
        session = (await self.send("Target.attachToTarget", {"targetId": target, "flatten": True}))[
            "sessionId"
        ]
        return Tab(self, target, session)

    async def __aexit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            await self.send("Browser.close")
        self.reader.cancel()
        await self.ws.close()
        await self.http.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Tab:
    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.b, self.target, self.session = browser, target, session

    async def eval(self, expression: str) -> Any:
        r = await self.b.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        return r.get("result", {}).get("value")

    async def state(self) -> dict[str, Any]:
        return json.loads(await self.eval("JSON.stringify(window.zizi || null)") or "null") or {}

    async def wait_for(self, expression: str, timeout_s: float = 60) -> Any:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while loop.time() < end:
            with contextlib.suppress(RuntimeError):
                value = await self.eval(expression)
                if value:
                    return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}: {await self.state()}")

    async def screenshot(self, path: Path) -> Path:
        await self.b.send("Target.activateTarget", {"targetId": self.target})
        r = await self.b.send("Page.captureScreenshot", {"format": "png"}, self.session)
        path.write_bytes(base64.b64decode(r["data"]))
        return path

    async def close(self) -> None:
        await self.b.send("Target.closeTarget", {"targetId": self.target})
