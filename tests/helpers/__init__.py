"""What tests share lives here, one module per concern: conftest.py files hold fixtures only,
and no test imports a conftest or another test module.

- `cli`: `invoke("train", ...)` runs zizi in-process; `one_line(result, *words)` is the one
  check that a refusal is a single `Error:` line through SystemExit, never a traceback.
- `tiny`: `tiny_nets` (the one tiny-network factory; `WIDE` the render/mirror preset),
  `tiny_modules`, `tiny_checkpoint`, `make_checkpoint`, `make_images`, `make_run`, and the
  trainer's `TINY_SETTINGS` / `TINY_SET_FLAGS`.
- `hostile`: crafted files (lying configs, nesting and zip bombs, hostile run folders).
- `media`: a click track for `--audio`, a video's frames and sound, a render interrupted;
  `inception`: stand-ins for NVIDIA's detector files; `hub`: the live mirror's hub driven
  without a browser.
- `c2pa_reader`, `browser`, `http_server`, `ddp_worker`: c2pa's Reader, headless Chromium,
  a local HTTP server, a spawned DDP training process.
- `nvlabs_writer`, `tf_writer`, `tf_reference`, `ops_emulation`: foreign formats and
  references written from their specs.

Tiers: `python -m pytest -q` is the default run (a few minutes on 2 cores); what is about
size (full-size networks, peak memory measured in fresh interpreters, several processes at
once, the end-to-end demo) is marked `slow` and runs with `-m slow`, as `.ci/run` does.
"""
