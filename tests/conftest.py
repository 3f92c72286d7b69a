"""Shared pytest setup: CPU threads as the CLI chooses them; tests marked `gpu` are skipped
where no CUDA device is present."""

from __future__ import annotations

import pytest

from zizi.runtime import choose_threads

# As the `zizi` command does, before any test module imports torch: threads by the
# machine's load, idle OpenMP threads asleep, so a busy CI machine slows the suite down
# gracefully instead of by an order of magnitude (docs/speed.md; a user's OMP_* stands).
choose_threads()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Imported here so that collecting tests without GPU marks costs nothing extra.
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Say how many tests skipped for want of nvcc or a GPU, so CI logs never hide it."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = (
            str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        )
        if "nvcc" in reason:
            counts["no nvcc"] = counts.get("no nvcc", 0) + 1
        elif "CUDA device" in reason:
            counts["no CUDA device"] = counts.get("no CUDA device", 0) + 1
    for what, n in counts.items():
        terminalreporter.write_line(f"{n} tests skipped: {what}", yellow=True, bold=True)


@pytest.fixture(autouse=True)
def _no_personal_signing_keys(tmp_path_factory, monkeypatch) -> None:
    """Every test sees an empty zizi config folder: keys made by `zizi credentials init` on
    this machine never sign a test's outputs (a test that signs makes its own)."""
    monkeypatch.setenv("ZIZI_CONFIG", str(tmp_path_factory.mktemp("zizi-config")))
