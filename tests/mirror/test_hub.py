"""The live mirror's scheduling, without a browser: newest frame wins, visitors take turns."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.hub import FakeSocket, drain, reflect_log
from zizi.mirror.serve import Health, Hub


def test_the_newest_frame_wins_and_older_ones_are_dropped():
    async def go():
        order: list[bytes] = []
        health = Health()
        hub = Hub(reflect_log(order), health)
        a = FakeSocket()
        cid = hub.join(a)
        for i in range(5):  # a camera faster than the mirror: only the last is worth drawing
            hub.offer(cid, b"a%d" % i)
        await drain(hub, lambda: len(order) >= 1)
        return order, a.got, health

    order, got, health = asyncio.run(go())
    assert order == [b"a4"]
    assert got[0] == b"png:a4"
    assert health.dropped == 4 and health.served == 1


def test_visitors_take_turns_however_fast_one_sends():
    async def go():
        order: list[bytes] = []
        holder = {}

        def flood(frame: bytes) -> None:  # while A is drawn, A's camera has sent again
            if frame.startswith(b"a") and len(order) < 8:
                holder["hub"].offer(holder["a"], b"a%d" % len(order))

        hub = holder["hub"] = Hub(reflect_log(order, flood), Health())
        holder["a"] = hub.join(FakeSocket())
        b = hub.join(FakeSocket())
        hub.offer(holder["a"], b"a-first")
        hub.offer(b, b"b-first")
        await drain(hub, lambda: len(order) >= 4, last=False)
        hub.offer(b, b"b-second")
        await drain(hub, lambda: b"b-second" in order)
        return order

    order = asyncio.run(go())
    assert order[:2] == [b"a-first", b"b-first"]  # B is not starved by A's new frame
    assert b"b-second" in order


def test_bad_frames_and_closed_sockets_do_not_stop_the_worker():
    async def go():
        order: list[bytes] = []
        health = Health()
        hub = Hub(reflect_log(order), health)
        gone, here = FakeSocket(), FakeSocket()
        g, h = hub.join(gone), hub.join(here)
        hub.offer(g, b"g")
        gone.closed = True  # the tab closed while its frame waited
        hub.offer(h, b"bad")
        await drain(hub, lambda: len(order) >= 2, last=False)
        hub.offer(h, b"h")
        await drain(hub, lambda: len(order) >= 3)
        return gone.got, here.got, health

    gone, here, health = asyncio.run(go())
    assert gone == []
    assert '"error": "not a frame"' in here[0] and here[1] == b"png:h"
    assert health.rejected == 1 and health.served == 1


def test_health_reports_counts_and_latency_only():
    h = Health()
    for ms in range(1, 101):
        h.latency_s.append(ms / 1000)
    h.served = 100
    r = h.report(clients=2)
    assert r["latency_ms"] == {"mean": pytest.approx(50.5), "p95": 96.0}
    assert r["clients"] == 2 and r["frames_served"] == 100
