"""`zizi mirror serve`: the live mirror as a local aiohttp web server with websockets.

Routes: `/` the page (zizi.mirror.page), `/ws` the frame socket, `/health` JSON counters.

Scheduling (`Hub`): each visitor has ONE slot. A frame that arrives while the visitor's
previous one still waits replaces it (the newest frame wins, the old one is dropped and
counted), so a slow server drops frames and never builds a queue of latency. One worker
serves the slots round robin, so every visitor gets a turn however fast their camera sends.

Keeps nothing: frames live in the slot and in the worker's call only; the answer is sent and
dropped. There is no access log (aiohttp's is switched off), no temp file, no cache; the
counters hold numbers only (times, counts), never an image, a latent or a hash of one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from zizi.mirror.live import MAX_FRAME_BYTES, FrameError, Reflection

log = logging.getLogger("zizi.mirror.serve")

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src blob: data:; media-src blob: mediastream:"
)


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"  # loopback: only this machine; 0.0.0.0 opens it to the network
    port: int = 8765
    max_clients: int = 16  # more pages than this are told "the mirror is full" (HTTP 503)
    max_frame_bytes: int = MAX_FRAME_BYTES  # a bigger websocket message closes that socket (1009)
    latency_window: int = 1000  # frames over which mean/p95 latency are reported


class Health:
    """Counters only: how many frames, how fast. Never anything derived from a frame's content."""

    def __init__(self, window: int = 1000) -> None:
        self.start = time.monotonic()
        self.served = 0  # reflections sent back
        self.dropped = 0  # frames replaced by a newer one from the same visitor before their turn
        self.rejected = 0  # messages that were not a usable frame
        self.latency_s: deque[float] = deque(maxlen=window)  # arrival -> reflection sent
        self.sent_at: deque[float] = deque(maxlen=window)

    def served_one(self, arrived: float) -> None:
        now = time.monotonic()
        self.served += 1
        self.latency_s.append(now - arrived)
        self.sent_at.append(now)

    def report(self, clients: int) -> dict[str, Any]:
        now = time.monotonic()
        lat = sorted(self.latency_s)
        recent = [t for t in self.sent_at if now - t <= 10.0]
        span = min(10.0, now - self.start)
        return {
            "frames_served": self.served,
            "frames_dropped": self.dropped,
            "frames_rejected": self.rejected,
            "latency_ms": {
                "mean": round(1000 * sum(lat) / len(lat), 2) if lat else None,
                "p95": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2)
                if lat
                else None,
            },
            "fps": round(len(recent) / span, 2) if span > 0 else 0.0,  # over the last 10 s
            "uptime_s": round(now - self.start, 1),
            "clients": clients,
        }


class Hub:
    """Visitors' sockets, their one-frame slots, and the worker that serves them in turn."""

    def __init__(self, reflect: Callable[[bytes], Reflection], health: Health) -> None:
        self.reflect = reflect
        self.health = health
        self.sockets: dict[int, Any] = {}
        self.slots: dict[int, tuple[bytes, float]] = {}  # visitor -> (newest frame, arrival)
        self.framed: dict[int, str] = {}
        self.ring: deque[int] = deque()  # round-robin order
        self.wake = asyncio.Event()
        self.ids = itertools.count(1)
        # one thread: the reflection is compute-bound; torch parallelises inside it
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zizi-reflect")

    def join(self, ws) -> int:
        cid = next(self.ids)
        self.sockets[cid] = ws
        self.ring.append(cid)
        return cid

    def leave(self, cid: int) -> None:
        self.sockets.pop(cid, None)
        self.slots.pop(cid, None)
        self.framed.pop(cid, None)
        if cid in self.ring:
            self.ring.remove(cid)

    def offer(self, cid: int, frame: bytes) -> None:
        if cid in self.slots:
            self.health.dropped += 1  # the older frame is stale now: never queue it
        self.slots[cid] = (frame, time.monotonic())
        self.wake.set()

    def _next(self) -> int | None:
        for _ in range(len(self.ring)):
            cid = self.ring[0]
            self.ring.rotate(-1)  # whoever is served goes to the back
            if cid in self.slots:
                return cid
        return None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            while (cid := self._next()) is not None:
                frame, arrived = self.slots.pop(cid)
                try:
                    result = await loop.run_in_executor(self.pool, self.reflect, frame)
                except FrameError as e:
                    self.health.rejected += 1
                    await self._send(cid, json.dumps({"error": str(e)}))
                    continue
                except Exception as e:  # a bug must not stop the mirror for everyone
                    log.warning("reflection failed: %s", type(e).__name__)
                    await self._send(cid, json.dumps({"error": "internal error"}))
                    continue
                finally:
                    del frame
                if await self._send(cid, result.png):
                    self.health.served_one(arrived)
                    if self.framed.get(cid) != result.framed:
                        self.framed[cid] = result.framed
                        await self._send(cid, json.dumps({"framed": result.framed}))

    async def _send(self, cid: int, data: bytes | str) -> bool:
        ws = self.sockets.get(cid)
        if ws is None or ws.closed:
            return False  # the tab closed while its frame was being reflected
        try:
            if isinstance(data, bytes):
                await ws.send_bytes(data)
            else:
                await ws.send_str(data)
            return True
        except (ConnectionError, RuntimeError):
            return False


def make_app(
    reflect: Callable[[bytes], Reflection],
    page_html: str,
    hello: dict[str, Any],
    cfg: ServeConfig = ServeConfig(),
):
    """The aiohttp application (the worker starts with it and stops with it)."""
    from aiohttp import WSMsgType, web

    health = Health(cfg.latency_window)
    state: dict[str, Any] = {}

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=page_html,
            content_type="text/html",
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": CSP,
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def health_route(request: web.Request) -> web.Response:
        hub: Hub = state["hub"]
        return web.json_response(
            health.report(len(hub.sockets)), headers={"Cache-Control": "no-store"}
        )

    async def socket(request: web.Request) -> web.StreamResponse:
        hub: Hub = state["hub"]
        if len(hub.sockets) >= cfg.max_clients:
            return web.Response(status=503, text="the mirror is full; try again in a moment")
        ws = web.WebSocketResponse(max_msg_size=cfg.max_frame_bytes, heartbeat=30)
        await ws.prepare(request)
        cid = hub.join(ws)
        try:
            await ws.send_str(json.dumps({"hello": hello}))
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    hub.offer(cid, msg.data)
                elif msg.type == WSMsgType.TEXT:
                    health.rejected += 1
                    await ws.send_str(json.dumps({"error": "send frames as binary JPEG/PNG"}))
                elif msg.type == WSMsgType.ERROR:  # e.g. a message over the size limit
                    health.rejected += 1
                    break
        finally:
            hub.leave(cid)
        return ws

    async def start_worker(app: web.Application) -> None:
        hub = state["hub"] = Hub(reflect, health)
        state["task"] = asyncio.create_task(hub.run())

    async def stop_worker(app: web.Application) -> None:
        state["task"].cancel()
        for ws in list(state["hub"].sockets.values()):
            await ws.close()
        state["hub"].pool.shutdown(wait=False, cancel_futures=True)

    app = web.Application(client_max_size=64 * 1024)  # ordinary requests carry no bodies
    app.router.add_get("/", page)
    app.router.add_get("/health", health_route)
    app.router.add_get("/ws", socket)
    app.on_startup.append(start_worker)
    app.on_shutdown.append(stop_worker)
    app["health"] = health
    return app


async def serve(
    app, cfg: ServeConfig, ssl_context=None, ready: Callable[[str], None] | None = None
) -> None:
    """Run `app` until cancelled (Ctrl-C). `ready(url)` once it listens."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)  # no request log: nothing to keep
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        from zizi.errors import ZiziError

        raise ZiziError(
            f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror or e}; choose another --port"
        ) from None
    if ready is not None:
        scheme = "https" if ssl_context is not None else "http"
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        ready(f"{scheme}://{host}:{runner.addresses[0][1]}/")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
