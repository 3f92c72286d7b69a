#!/usr/bin/env bash
# Installs zizi (editable, with its dev extras) into a virtual environment, so it works on
# a stock Debian 12 / Ubuntu 24.04 python, whose pip refuses to install into the system
# (PEP 668, "externally-managed-environment"). Never uses --break-system-packages.
#
# Which environment:
#   1. ./.venv if it exists;
#   2. else the virtual environment (or conda env) you are in, linked as ./.venv;
#   3. else a new ./.venv made with $PYTHON (default python3).
# Either way ./.venv/bin/zizi and ./.venv/bin/python work afterwards, from a plain shell,
# with no activation step.
#
# torch: an installed torch >= 2.1 is kept (e.g. a CUDA build on a GPU box): a new .venv
# sees the outer python's packages (--system-site-packages) when that python has one.
# Otherwise torch==2.13.0 is installed (pinned, never the newest by accident).
#
# ZIZI_SETUP_DRY_RUN=1 prints the commands instead of running them (used by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
TORCH_PIN="torch==2.13.0"

run() {
  if [ -n "${ZIZI_SETUP_DRY_RUN:-}" ]; then echo "+ $*"; else "$@"; fi
}

has_torch() {  # $1: a python; true when it imports a torch >= 2.1
  "$1" - <<'PYEOF' 2>/dev/null
import sys, torch
major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 1) else 1)
PYEOF
}

in_env() {  # $1: a python; true inside a virtual environment or a conda env
  "$1" -c 'import os, sys; sys.exit(0 if sys.prefix != sys.base_prefix or os.environ.get("CONDA_PREFIX") == sys.prefix else 1)' 2>/dev/null
}

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "setup: $PY not found; install Python 3.10 or newer (or set PYTHON=/path/to/python3)" >&2
  exit 1
fi

if [ -e "$VENV/bin/python" ]; then
  echo "setup: using $VENV"
elif in_env "$PY"; then
  prefix=$("$PY" -c 'import sys; print(sys.prefix)')
  echo "setup: using the active environment $prefix (linked as $VENV)"
  run ln -sfn "$prefix" "$VENV"
else
  opts=()
  if has_torch "$PY"; then
    opts=(--system-site-packages)
    echo "setup: creating $VENV (keeping $PY's torch $("$PY" -c 'import torch; print(torch.__version__)'))"
  else
    echo "setup: creating $VENV"
  fi
  if ! run "$PY" -m venv "${opts[@]}" "$VENV"; then
    echo "setup: could not create $VENV with $PY; on Debian/Ubuntu: sudo apt install python3-venv" >&2
    exit 1
  fi
fi

VPY="$VENV/bin/python"
check="$VPY"
if [ ! -e "$VPY" ]; then check="$PY"; fi  # a dry run made no venv: ask the python it would use
if has_torch "$check"; then
  echo "setup: using installed torch $("$check" -c 'import torch; print(torch.__version__)')"
else
  echo "setup: installing $TORCH_PIN"
  run "$VPY" -m pip install -q "$TORCH_PIN"
fi
run "$VPY" -m pip install -q -e ".[dev]"
echo "setup: done; run $VENV/bin/zizi (e.g. $VENV/bin/zizi demo) or $VENV/bin/python -m pytest -q"
