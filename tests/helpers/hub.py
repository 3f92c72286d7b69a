"""The live mirror's hub without a browser: a socket that records what it is sent, a
reflector that logs the frames it is given, and a loop run until a condition holds."""

from __future__ import annotations

import asyncio

from zizi.mirror.live import FrameError, Reflection
from zizi.mirror.serve import Hub


class FakeSocket:
    def __init__(self) -> None:
        self.closed = False
        self.got: list[bytes | str] = []

    async def send_bytes(self, data: bytes) -> None:
        self.got.append(data)

    async def send_str(self, data: str) -> None:
        self.got.append(data)


def reflect_log(order: list[bytes], hook=None):
    def reflect(frame: bytes) -> Reflection:
        order.append(frame)
        if frame == b"bad":
            raise FrameError("not a frame")
        if hook is not None:
            hook(frame)
        return Reflection(b"png:" + frame, "center")

    return reflect


async def drain(hub: Hub, until, last: bool = True) -> None:
    task = asyncio.create_task(hub.run())
    for _ in range(500):
        await asyncio.sleep(0.01)
        if until():
            break
    task.cancel()
    if last:
        hub.pool.shutdown()
