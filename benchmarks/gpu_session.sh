#!/usr/bin/env bash
# One GPU session in one call: everything ../shared/GPU.md asks of a GPU, most valuable first.
#
#   bash benchmarks/gpu_session.sh [--out DIR] [--budget SECONDS] [--steps a,b,...] [--dry-run]
#
# Made for a bare GPU box that has torch (CUDA), nvcc, ninja, numpy, scipy, pillow, click,
# tqdm, safetensors, matplotlib and imageio, but no package registry: what zizi still
# needs (pyyaml, imageio-ffmpeg, ffmpeg-python, pytest) is installed from wheels brought
# in the git-ignored `.whl/` folder (see docs/gpu.md for the `pip download` line), into a
# scratch folder (`pip --target`: no virtual environment, no system changes). zizi itself
# runs from this tree (PYTHONPATH); the last step checks that it installs offline too.
#
# Every step runs under its own `timeout`, and no step starts past the overall budget
# (default 470 s), so one hang cannot eat the window. Every log and figure lands in --out
# (default $OUT, as the device tool sets it): logs/<step>.log, summary.json/.txt, doctor.json,
# pytest-gpu.xml, real/ (a sample grid, a video frame and the video of a real fine-tune),
# ops-logs/ (kernel build and self-check logs).
#
# Steps, in order: env, deps, build (kernels build and check themselves; `zizi doctor
# --build --json`), pytest-gpu (`pytest -m gpu`), train-256 and train-1024 (fp16 and
# bf16), real (a 256² base trained here for BASE_S seconds, then a FT_S-second fine-tune
# on drawn portraits, then `zizi render shift`), render, generate, ops, sanitizer
# (compute-sanitizer on a short selection), package, speed-options (--channels-last
# training and torch.compile generation beside their defaults). --steps runs only the
# named ones (e.g. a second call for what the first had no time left for).
#
# --dry-run runs the same steps on the CPU at toy sizes (CI runs it). Exit status 1 when
# a step failed or timed out.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DRY=0
BUDGET=""
ONLY=""
OUT_DIR=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT_DIR=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --steps) ONLY=",$2," ; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "gpu_session: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$OUT_DIR" ] || OUT_DIR=$ROOT/gpu-session-out
mkdir -p "$OUT_DIR/logs" || exit 2
OUT_DIR=$(cd "$OUT_DIR" && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/zizi-gpu-session.XXXXXX")
export ROOT DRY PYTHON WORK OUT_DIR
export PYTHONPATH="$ROOT:$WORK/deps${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg ZIZI_CACHE=$WORK/zizi-cache
export ZIZI="$PYTHON -m zizi"
if [ "$DRY" = 1 ]; then
  export DEV=cpu OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  BUDGET=${BUDGET:-900}  # correctness, not speed: a loaded CI machine is slow
else
  export DEV=cuda
  BUDGET=${BUDGET:-470}
fi
START=$(date +%s)
DEADLINE=$((START + BUDGET))
SUMMARY=$OUT_DIR/summary.tsv
: > "$SUMMARY"

# run_step NAME LIMIT_S COMMAND: COMMAND (a bash string) under `timeout`, its output in
# logs/NAME.log, one line in summary.tsv: name, status, seconds, limit, note.
run_step() {
  local name=$1 limit=$2 cmd=$3
  if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then return 0; fi
  local left=$((DEADLINE - $(date +%s)))
  if [ "$left" -lt 20 ]; then
    printf '%s\tskipped\t0\t%s\tout of the %ss budget\n' "$name" "$limit" "$BUDGET" >> "$SUMMARY"
    echo "== $name: skipped (budget spent)"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s)"
  local t0 rc status
  t0=$(date +%s.%N)
  timeout -k 15 "$limit" bash -c "set -eo pipefail; $cmd" > "$OUT_DIR/logs/$name.log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124|137) status=timeout ;;
    *) status="failed($rc)" ;;
  esac
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$limit" \
    "$(tail -n 1 "$OUT_DIR/logs/$name.log" | tr '\t' ' ' | cut -c1-160)" >> "$SUMMARY"
  echo "   $status in ${secs}s; $(tail -n 1 "$OUT_DIR/logs/$name.log" | cut -c1-160)"
}

# --------------------------------------------------------------------------- the steps

run_step env 30 '
  date -u; uname -a; nvidia-smi || echo "nvidia-smi: not found"
  "$PYTHON" - <<EOF
import json, platform, torch
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
facts = {"python": platform.python_version(), "torch": torch.__version__,
         "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "gpus": gpus,
         "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported()}
print(json.dumps(facts))
open("$OUT_DIR/env.json", "w").write(json.dumps(facts, indent=1))
EOF
  command -v nvcc && nvcc --version | tail -n 2; command -v ninja && ninja --version
  echo "environment recorded"'

run_step deps 120 '
  missing=$("$PYTHON" - <<EOF
import importlib.util
need = {"yaml": "pyyaml", "imageio_ffmpeg": "imageio-ffmpeg", "ffmpeg": "ffmpeg-python",
        "pytest": "pytest", "imageio": "imageio", "safetensors": "safetensors",
        "click": "click", "tqdm": "tqdm", "scipy": "scipy", "matplotlib": "matplotlib"}
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
EOF
)
  if [ -z "$missing" ]; then echo "nothing to install: every dependency is present"; exit 0; fi
  echo "missing: $missing"
  [ -d "$ROOT/.whl" ] || { echo "no .whl/ folder with wheels for: $missing"; exit 1; }
  if "$PYTHON" -m pip --version >/dev/null 2>&1; then
    "$PYTHON" -m pip install --no-index --find-links "$ROOT/.whl" --target "$WORK/deps" \
      --disable-pip-version-check --no-warn-conflicts $missing
  else  # no pip: a wheel is a zip; unpack the missing ones and what they need
    "$PYTHON" - "$ROOT/.whl" "$WORK/deps" $missing <<EOF
import os, re, sys, zipfile
from pathlib import Path
src, dest, missing = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
needs = {"pytest": ["iniconfig", "pluggy", "packaging", "pygments", "exceptiongroup", "tomli"],
         "ffmpeg-python": ["future"]}
want = {re.sub(r"[-_.]+", "_", n).lower() for m in missing for n in [m, *needs.get(m, [])]}
tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
for whl in sorted(src.glob("*.whl")):
    name, rest = whl.name.split("-", 1)
    if name.lower() in want and ("-py3-none-" in whl.name or f"-{tag}-" in whl.name):
        with zipfile.ZipFile(whl) as z:
            z.extractall(dest)
        print("unpacked", whl.name)
for exe in (dest / "imageio_ffmpeg" / "binaries").glob("ffmpeg*"):
    os.chmod(exe, 0o755)
EOF
  fi
  "$PYTHON" -c "import yaml, imageio_ffmpeg, ffmpeg, pytest; print(\"ffmpeg:\", imageio_ffmpeg.get_ffmpeg_exe())"
  echo "installed from .whl: $missing"'

if [ "$DRY" = 1 ]; then
  run_step build 120 '$ZIZI doctor --build --json > "$OUT_DIR/doctor.json"; $ZIZI doctor | tail -n 12'
else
  # both ops build at once (each build is one nvcc + one c++ compile), then doctor reports
  # them and runs each one's self-check against the reference on the GPU
  run_step build 300 '
    for op in bias_act upfirdn2d; do
      "$PYTHON" -c "from zizi.ops import $op as m; p = m._PLUGIN; p.try_load(); print(\"$op\", p.state(), p.error or \"\")" &
    done
    wait
    $ZIZI doctor --build --json > "$OUT_DIR/doctor.json"
    $ZIZI doctor
    "$PYTHON" -c "import json; r = json.load(open(\"$OUT_DIR/doctor.json\")); bad = [o[\"name\"] for o in r[\"ops\"][\"ops\"] if not (o[\"check\"] or {}).get(\"ok\")]; print(\"kernels built and checked\" if not bad else f\"NOT built or checked: {bad}\"); raise SystemExit(1 if bad else 0)"'
fi

if [ "$DRY" = 1 ]; then
  GPU_TESTS="tests/ops/test_selfcheck.py tests/nets/test_mixed_precision.py tests/train/test_precision.py"
else
  GPU_TESTS="tests/"
fi
run_step pytest-gpu 200 "\"\$PYTHON\" -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors -o addopts='' --import-mode=importlib --junitxml=\"\$OUT_DIR/pytest-gpu.xml\" $GPU_TESTS"

if [ "$DRY" = 1 ]; then
  run_step train-256 120 '"$PYTHON" benchmarks/train.py --device cpu --net tiny --steps 2 --warmup 1 --precision fp16 bf16'
  run_step train-1024 120 '"$PYTHON" benchmarks/train.py --device cpu --net tiny --steps 1 --warmup 0 --precision fp32'
else
  run_step train-256 150 '"$PYTHON" benchmarks/train.py --device cuda --net f256 --batch 32 --steps 16 --warmup 2 --precision fp16 bf16'
  run_step train-1024 180 '"$PYTHON" benchmarks/train.py --device cuda --net f1024 --batch 32 --batch-gpu 8 --steps 16 --warmup 1 --precision fp16 bf16'
fi

# Something real: a base trained here (no weights can be downloaded), a fine-tune on the
# drag portraits, the weight-shift video. `timeout -s INT` is a Ctrl-C: zizi train
# finishes its step, writes a snapshot and exits 0.
if [ "$DRY" = 1 ]; then
  export RES=32 NET=configs/nets/tiny.yaml N_BASE=8 N_SHIFT=8 BASE_S=60 FT_S=60 BATCH=4 \
    BASE_KIMG=0.008 FT_KIMG=0.016 FRAME_KIMG=0.004 WORKERS=0 SECONDS_VIDEO=8
else
  export RES=256 NET=configs/nets/ffhq-256.yaml N_BASE=${N_BASE:-300} N_SHIFT=${N_SHIFT:-150} \
    BASE_S=${BASE_S:-45} FT_S=${FT_S:-120} BATCH=32 BASE_KIMG=1000 FT_KIMG=1000 FRAME_KIMG=2 \
    WORKERS=4 SECONDS_VIDEO=6s
fi
run_step real $((BASE_S + FT_S + 150)) '
  mkdir -p "$OUT_DIR/real" "$WORK/real"
  "$PYTHON" -c "
from pathlib import Path
from zizi.demo.portraits import write_set
for kind, n in ((\"base\", $N_BASE), (\"shift\", $N_SHIFT)):
    write_set(Path(\"$WORK/real\") / kind, kind, n, seed=0, size=$RES)
print(\"drew $N_BASE base and $N_SHIFT shift portraits at ${RES}²\")"
  timeout --preserve-status -s INT -k 60 "$BASE_S" $ZIZI train --device "$DEV" \
    --data "$WORK/real/base" --net "$NET" --out "$WORK/real/runs" --kimg "$BASE_KIMG" \
    --batch "$BATCH" --set name=base --set loss.r1_gamma=1 --set ema.rampup=0.05 \
    --set tick_kimg=1 --set snap_kimg=1000 --set frame_kimg=1000 --set data.workers=$WORKERS
  base=$(ls -d "$WORK"/real/runs/*-base)
  timeout --preserve-status -s INT -k 60 "$FT_S" $ZIZI train --device "$DEV" \
    --data "$WORK/real/shift" --resume "$base/latest.safetensors" --out "$WORK/real/runs" \
    --config configs/train/ffhq256.yaml --kimg "$FT_KIMG" --batch "$BATCH" --set name=shift \
    --set frame_kimg=$FRAME_KIMG --set tick_kimg=$FRAME_KIMG --set snap_kimg=1000 \
    --set ema.kimg=1 --set data.workers=$WORKERS
  shift=$(ls -d "$WORK"/real/runs/*-shift)
  $ZIZI render shift "$shift" --out "$OUT_DIR/real/shift.mp4" --seconds "$SECONDS_VIDEO" \
    --grid 4x2 --device "$DEV" --force
  "$PYTHON" -c "
import imageio
from zizi.files import write_png
r = imageio.get_reader(\"$OUT_DIR/real/shift.mp4\", \"ffmpeg\")
n = r.count_frames()
write_png(\"$OUT_DIR/real/shift-frame.png\", r.get_data(n // 2))
print(f\"video: {n} frames\")"
  for run in "$base" "$shift"; do
    k=$(basename "$run"); cp "$run/log.txt" "$OUT_DIR/real/$k-log.txt"
    cp "$(ls "$run"/samples/*.png | tail -n 1)" "$OUT_DIR/real/$k-samples-last.png"
  done
  grep -h "tick" "$OUT_DIR"/real/*-log.txt | tail -n 2 || true
  echo "real run: base $(basename "$base"), fine-tune $(basename "$shift"), video real/shift.mp4"'

if [ "$DRY" = 1 ]; then
  run_step render 120 '"$PYTHON" benchmarks/render.py --device cpu --res 32 --frames 2'
  run_step generate 120 '"$PYTHON" benchmarks/generate.py --device cpu --res 32 --batch 1 --images 2'
  run_step ops 120 '"$PYTHON" benchmarks/ops.py --device cpu --quick --layers 1 --repeat 1'
else
  run_step render 150 '"$PYTHON" benchmarks/render.py --device cuda --res 1024 --frames 300'
  run_step generate 120 '"$PYTHON" benchmarks/generate.py --device cuda --res 256 1024 --batch 1 8'
  run_step ops 150 '"$PYTHON" benchmarks/ops.py --device cuda --step --repeat 10'
fi

# Memory errors in the kernels: the self-check (every case the nets use) and the odd
# layouts (sliced, broadcast, offset, empty) under compute-sanitizer's memcheck.
SAN_TESTS="-m gpu tests/ops/test_selfcheck.py tests/ops/test_ops_gpu.py -k 'real_kernels or layouts'"
run_step sanitizer 180 "
  san=\$(command -v compute-sanitizer || ls \${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer 2>/dev/null || true)
  if [ -z \"\$san\" ]; then
    echo 'compute-sanitizer not found; the selection runs without it'
    \"\$PYTHON\" -m pytest -q -p no:cacheprovider $SAN_TESTS
    exit 0
  fi
  ZIZI_OPS=cuda \"\$san\" --tool memcheck --leak-check full --error-exitcode 1 \
    \"\$PYTHON\" -m pytest -q -p no:cacheprovider $SAN_TESTS"

run_step package 90 '
  # --no-build-isolation builds with the setuptools at hand; one older than 70.1 has no
  # bdist_wheel of its own, so the setuptools wheel from .whl/ is used when there is one
  if ls "$ROOT"/.whl/setuptools-*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --no-index --find-links "$ROOT/.whl" --target "$WORK/build-tools" \
      --disable-pip-version-check setuptools
    export PYTHONPATH="$WORK/build-tools:$PYTHONPATH"
  elif ! "$PYTHON" -c "import setuptools.command.bdist_wheel" 2>/dev/null; then
    echo "not checked: this setuptools cannot build wheels and .whl/ brings none"; exit 0
  fi
  "$PYTHON" -m pip install --no-index --no-deps --no-build-isolation --disable-pip-version-check \
    --target "$WORK/pkg" "$ROOT" > "$WORK/pip.log" 2>&1 || { tail -n 20 "$WORK/pip.log"; exit 1; }
  ls "$WORK"/pkg/zizi/ops/*.cu "$WORK"/pkg/zizi/demo/*.safetensors
  echo "zizi installs offline (--no-deps --no-build-isolation), kernel sources included"'

# The switches that stay off until a GPU shows them faster (docs/speed.md): the NHWC
# layout in training, torch.compile of the synthesis network (reduce-overhead = CUDA
# graphs) in generation, each beside its default in the same process.
if [ "$DRY" = 1 ]; then
  run_step speed-options 240 '
    "$PYTHON" benchmarks/train.py --device cpu --net tiny --steps 1 --warmup 0 --precision fp32 --channels-last
    "$PYTHON" benchmarks/generate.py --device cpu --res 8 --batch 1 --images 1 --compile default'
else
  run_step speed-options 300 '
    "$PYTHON" benchmarks/train.py --device cuda --net f256 --batch 32 --steps 16 --warmup 2 --precision fp16 --channels-last
    "$PYTHON" benchmarks/generate.py --device cuda --res 256 --batch 8 --images 64 --compile default reduce-overhead'
fi

# --------------------------------------------------------------------------- summary

mkdir -p "$OUT_DIR/ops-logs"
cp "$ZIZI_CACHE"/ops/*.log "$ZIZI_CACHE"/ops/*/selfcheck-*.json "$OUT_DIR/ops-logs/" 2>/dev/null
"$PYTHON" - "$SUMMARY" "$OUT_DIR" "$BUDGET" "$DRY" <<'EOF'
import json, sys
tsv, out, budget, dry = sys.argv[1:5]
steps = []
for line in open(tsv):
    name, status, secs, limit, note = (line.rstrip("\n").split("\t") + [""] * 5)[:5]
    steps.append({"step": name, "status": status, "seconds": float(secs), "limit_s": int(limit),
                  "last_line": note})
total = sum(s["seconds"] for s in steps)
doc = {"dry_run": dry == "1", "budget_s": int(budget), "total_s": round(total, 1), "steps": steps}
open(f"{out}/summary.json", "w").write(json.dumps(doc, indent=1) + "\n")
lines = [f"{s['step']:<11} {s['status']:<11} {s['seconds']:7.1f}s  {s['last_line']}" for s in steps]
text = "\n".join(lines + [f"total {total:.0f}s of a {budget}s budget"])
open(f"{out}/summary.txt", "w").write(text + "\n")
print(text)
EOF
rm -rf "$WORK"
# the exit status says whether every step that ran finished well (skipped ones are listed)
! cut -f2 "$SUMMARY" | grep -q -E '^(failed|timeout)'
