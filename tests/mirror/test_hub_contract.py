"""The live mirror's server keeps its promises to visitors who leave and to the machine.

`test_hub.py` checks the order frames are served in; these check what the server must not
keep or take: a frame of a visitor who has left (it would be reflected for nobody, and held
in memory after the tab closed), and more pages than `max_clients`.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.hub import FakeSocket, drain, reflect_log
from zizi.mirror.serve import Health, Hub, ServeConfig, make_app

aiohttp = pytest.importorskip("aiohttp")


def test_a_visitor_who_leaves_takes_their_waiting_frame_with_them():
    async def go():
        order: list[bytes] = []
        hub = Hub(reflect_log(order), Health())
        gone, here = hub.join(FakeSocket()), hub.join(FakeSocket())
        hub.offer(gone, b"gone")
        hub.leave(gone)  # the tab closed before its frame's turn
        assert hub.slots == {}
        hub.offer(here, b"here")
        await drain(hub, lambda: b"here" in order)
        return order

    assert asyncio.run(go()) == [b"here"]


def test_pages_beyond_max_clients_are_told_the_mirror_is_full():
    from aiohttp.test_utils import TestClient, TestServer

    async def go():
        app = make_app(reflect_log([]), "<html></html>", {}, ServeConfig(max_clients=2))
        async with TestClient(TestServer(app)) as client:
            first = await client.ws_connect("/ws")
            second = await client.ws_connect("/ws")
            assert "hello" in await first.receive_str()
            assert "hello" in await second.receive_str()
            with pytest.raises(aiohttp.WSServerHandshakeError) as full:
                await client.ws_connect("/ws")
            assert full.value.status == 503
            await first.close()
            for _ in range(100):  # the server sees the close: a place is free again
                third = None
                try:
                    third = await client.ws_connect("/ws")
                    break
                except aiohttp.WSServerHandshakeError:
                    await asyncio.sleep(0.01)
            assert third is not None
            await second.close()
            await third.close()

    asyncio.run(go())
