"""Fault injection for the tests that kill zizi at its most dangerous moments.

`fault_point("name")` does nothing unless the environment variable ZIZI_FAULT equals
"name"; then the process kills itself at once with SIGKILL, exactly as `kill -9` or a
power cut would, with no cleanup run. Timing a real kill from outside is unreliable
on a loaded machine; this puts it at the exact step under test.
"""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    if os.environ.get("ZIZI_FAULT") == name:
        kill = getattr(signal, "SIGKILL", None)
        if kill is None:  # pragma: no cover - Windows has no SIGKILL
            os._exit(137)
        os.kill(os.getpid(), kill)
