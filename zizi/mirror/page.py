"""The live mirror's web page: one self-contained HTML document (no external requests).

The page asks for the camera (getUserMedia), sends downscaled JPEG frames over a websocket,
and draws the base and shifted reflections beside the live image. `?kiosk=1` fills the
screen and hides every control. A dropped connection is retried every second. Counters for
tests and curious visitors live in `window.zizi` (numbers only).
"""

from __future__ import annotations

import html

CONSENT = (
    "Nothing is stored: each camera frame is reflected in memory and forgotten; "
    "no picture, face crop or latent is written anywhere."
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zizi mirror</title>
<style>
 html, body { margin: 0; background: #111; color: #eee; font: 16px/1.4 system-ui, sans-serif; }
 header { padding: 10px 16px; }
 header h1 { font-size: 20px; margin: 0 0 4px; }
 #consent { color: #bdb; margin: 0; }
 main { display: flex; gap: 12px; padding: 12px 16px; flex-wrap: wrap; }
 figure { margin: 0; flex: 1 1 0; min-width: 160px; }
 figure video, figure canvas { width: 100%; aspect-ratio: 1; object-fit: cover; background: #222;
   image-rendering: pixelated; display: block; }
 video, canvas { transform: scaleX(-1); }  /* all three read like a mirror */
 figcaption { text-align: center; color: #aaa; padding-top: 4px; }
 #status { padding: 0 16px 12px; color: #aaa; }
 body.kiosk header p.more, body.kiosk #controls, body.kiosk #status { display: none; }
 body.kiosk { cursor: none; overflow: hidden; }
 body.kiosk main { height: calc(100vh - 80px); align-items: center; flex-wrap: nowrap; }
 body.kiosk figure { height: 100%; display: flex; flex-direction: column; justify-content: center; }
 body.kiosk figure video, body.kiosk figure canvas { max-height: 100%; }
</style></head>
<body>
<header><h1>zizi mirror</h1>
<p id="consent">__CONSENT__</p>
<p class="more">Your camera stays in this browser until a frame is sent; the reflection is
drawn by two face models: the base (normative) one and one fine-tuned on another dataset.</p>
</header>
<main>
 <figure><video id="live" autoplay playsinline muted></video><figcaption>you</figcaption></figure>
 <figure><canvas id="base" width="__RES__" height="__RES__"></canvas>
  <figcaption>base model (__BASE__)</figcaption></figure>
 <figure><canvas id="shifted" width="__RES__" height="__RES__"></canvas>
  <figcaption>shifted model (__SHIFTED__)</figcaption></figure>
</main>
<div id="controls" style="padding: 0 16px 8px"><button id="pause">pause</button></div>
<div id="status">starting…</div>
<script>
"use strict";
const kiosk = new URLSearchParams(location.search).get("kiosk") === "1";
if (kiosk) document.body.classList.add("kiosk");
const Z = window.zizi = {sent: 0, received: 0, errors: 0, reconnects: 0, state: "starting",
                         lastError: "", framed: ""};
const SEND_PX = 320, MIN_GAP_MS = 50, STALL_MS = 400;
const video = document.getElementById("live");
const grab = document.createElement("canvas");
const status = document.getElementById("status");
const views = [document.getElementById("base"), document.getElementById("shifted")];
let ws = null, paused = false, waiting = false, lastSent = 0;

function say(text) { Z.state = text; status.textContent = text; }

async function camera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia(
      {video: {width: {ideal: 640}, height: {ideal: 480}}, audio: false});
    video.srcObject = stream;
    await video.play();
  } catch (e) { Z.lastError = String(e); say("no camera: " + e.name); }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + "/ws");
  ws.binaryType = "blob";
  ws.onopen = () => { waiting = false; say("connected"); };
  ws.onmessage = async (ev) => {
    waiting = false;
    if (typeof ev.data === "string") {
      const msg = JSON.parse(ev.data);
      if (msg.error) { Z.errors++; Z.lastError = msg.error; }
      if (msg.framed) Z.framed = msg.framed;
      return;
    }
    const img = await createImageBitmap(ev.data);
    const r = img.height;
    views.forEach((c, i) =>
      c.getContext("2d").drawImage(img, i * r, 0, r, r, 0, 0, c.width, c.height));
    img.close();
    Z.received++;
    say("reflecting (" + Z.received + " frames)");
  };
  ws.onclose = () => { say("disconnected; reconnecting…"); Z.reconnects++;
                       setTimeout(connect, 1000); };
  ws.onerror = () => {};
}

function tick() {
  const now = performance.now();
  const ready = ws && ws.readyState === WebSocket.OPEN && video.videoWidth > 0 && !paused;
  if (ready && (!waiting || now - lastSent > STALL_MS) && now - lastSent > MIN_GAP_MS
      && ws.bufferedAmount === 0) {
    const scale = SEND_PX / Math.max(video.videoWidth, video.videoHeight);
    grab.width = Math.round(video.videoWidth * Math.min(1, scale));
    grab.height = Math.round(video.videoHeight * Math.min(1, scale));
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    waiting = true; lastSent = now;
    grab.toBlob((b) => { if (b && ws.readyState === WebSocket.OPEN) { ws.send(b); Z.sent++; } },
                "image/jpeg", 0.85);
  }
}

document.getElementById("pause").onclick = (e) => {
  paused = !paused; e.target.textContent = paused ? "resume" : "pause"; };
if (kiosk) document.addEventListener("click", () => document.documentElement.requestFullscreen?.());
camera(); connect(); setInterval(tick, 20);
</script>
</body></html>
"""


def render_page(resolution: int, base_name: str, shifted_name: str) -> str:
    """The page for one pair of models (their file names are shown, escaped)."""
    return (
        _PAGE.replace("__CONSENT__", html.escape(CONSENT))
        .replace("__RES__", str(int(resolution)))
        .replace("__BASE__", html.escape(base_name))
        .replace("__SHIFTED__", html.escape(shifted_name))
    )
