#!/usr/bin/env bash
# Installs zizi for development on this machine.
# Keeps an installed torch when it fits (>= 2.1, e.g. a CUDA build on a GPU box);
# otherwise installs the CPU build torch==2.13.0, never the multi-GB CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if "$PY" - <<'PYEOF' 2>/dev/null
import sys, torch
major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 1) else 1)
PYEOF
then
  echo "setup: using installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  echo "setup: installing torch==2.13.0"
  "$PY" -m pip install -q torch==2.13.0
fi
"$PY" -m pip install -q -e ".[dev]"
