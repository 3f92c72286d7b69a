"""A built kernel checks itself against its PyTorch reference before it is trusted.

A kernel that builds and launches can still compute the wrong thing on a GPU nobody has
tested (an indexing bug in one fast path, a bad fp16 conversion, a compiler change), and
a wrong kernel draws wrong faces without any error. So the first time a process uses an
op on a device, `run` feeds the kernel path and the reference the same small random
inputs, covering the cases the networks use, in float32, float16 and (where the device
has it) bfloat16: the output, the first derivatives, and the second derivatives R1 and
the path-length regulariser need. Each comparison is the largest absolute difference
over the reference's largest magnitude (at least 1), against a tolerance per dtype.

The verdict is cached beside the built kernel (its folder is keyed by sources, torch,
CUDA, architecture and flags), under a name keyed by the device and by this check's and
the op's Python code, so later processes skip the check; the full table goes to a log.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

CHECK_FORMAT = 1  # bump when what is checked changes: cached verdicts are then redone
# Tolerances as a fraction of the reference's largest magnitude: the kernels round once
# in the output dtype while the reference (float32) rounds never, so a correct kernel is
# within about one unit in the last place of that dtype (fp16: 2^-11, bf16: 2^-8).
TOL: dict[torch.dtype, float] = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2}

# One comparison: (case name, dtype, [kernel-path tensors], [reference tensors]).
Comparison = tuple[str, torch.dtype, list[torch.Tensor], list[torch.Tensor]]
Check = Callable[[object, torch.device], Iterable[Comparison]]  # (bindings, device)


@dataclass(frozen=True)
class Verdict:
    """Whether an op's kernel agreed with its reference on one device."""

    ok: bool
    device: str  # e.g. "NVIDIA H100 80GB HBM3 (sm 9.0)"
    cases: int  # comparisons made
    worst_case: str  # the comparison furthest from its tolerance
    worst_error: float  # its error (fraction of the reference's magnitude)
    worst_tol: float  # its tolerance
    reason: str | None = None  # an exception the check raised, if any
    log: str | None = None  # where the full table is
    checked: str = ""  # when (UTC)

    def summary(self) -> str:
        if self.reason:
            return f"check failed to run: {self.reason}"
        word = "passed" if self.ok else "FAILED"
        return (
            f"{word} {self.cases} comparisons on {self.device}; worst {self.worst_case}: "
            f"error {self.worst_error:.2e} (tolerance {self.worst_tol:.0e})"
        )


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} (sm {major}.{minor})"
    return device.type


def dtypes(device: torch.device) -> list[torch.dtype]:
    """The dtypes to check on `device`: bf16 only where the device computes in it."""
    out = [torch.float32, torch.float16]
    if device.type != "cuda" or torch.cuda.is_bf16_supported():
        out.append(torch.bfloat16)
    return out


def error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max(max |want|, 1); inf for a shape mismatch or a NaN/Inf the
    reference does not have."""
    if got.shape != want.shape:
        return math.inf
    got, want = got.detach().float().cpu(), want.detach().float().cpu()
    if not torch.equal(torch.isfinite(got), torch.isfinite(want)):
        return math.inf
    fin = torch.isfinite(want)
    if not fin.any():
        return 0.0
    scale = max(want[fin].abs().max().item(), 1.0)
    return (got[fin] - want[fin]).abs().max().item() / scale


def verdict_key(device: torch.device, sources: Iterable[Path]) -> str:
    """The cache name's key: device, check format, and the Python code that is checked."""
    h = hashlib.sha256(f"format={CHECK_FORMAT}\0{device_name(device)}\0".encode())
    for p in sorted(Path(s) for s in (*sources, Path(__file__))):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def run(check: Check, bindings: object, device: torch.device, log: Path) -> Verdict:
    """Run every comparison of `check`, write the table to `log`, return the verdict.

    The inputs come from the check's own CPU generator and grads are enabled inside, so
    the caller's random streams, no_grad or inference mode are left as they were.
    """
    rows: list[str] = []
    worst = ("-", 0.0, 1.0)  # (case, error, tol), by error / tol
    cases = 0
    ok = True
    reason = None
    try:
        with torch.inference_mode(False), torch.enable_grad():
            for name, dtype, got, want in check(bindings, device):
                tol = TOL[dtype]
                for i, (g, w) in enumerate(zip(got, want, strict=True)):
                    err = error(g, w)
                    cases += 1
                    bad = not err <= tol
                    ok = ok and not bad
                    label = f"{name} [{str(dtype).removeprefix('torch.')}] output {i}"
                    rows.append(
                        f"{'MISMATCH' if bad else 'ok':8s} {label}: {err:.3e} (tol {tol:.0e})"
                    )
                    if err / tol > worst[1] / worst[2] or (bad and worst[1] <= worst[2]):
                        worst = (label, err, tol)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # an asynchronous launch error surfaces here
    except Exception as e:  # a crash in the kernel path is a failed check, not a crash
        ok = False
        reason = (
            f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
        )
        rows.append("check raised:\n" + traceback.format_exc())
    verdict = Verdict(
        ok=ok and cases > 0,
        device=device_name(device),
        cases=cases,
        worst_case=worst[0],
        worst_error=worst[1],
        worst_tol=worst[2],
        reason=reason,
        log=str(log),
        checked=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    )
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"zizi kernel self-check: {verdict.summary()}\n" + "\n".join(rows) + "\n")
    except OSError:
        pass  # an unwritable cache loses the table, not the verdict
    return verdict


def load(path: Path) -> Verdict | None:
    """A cached verdict, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text())
        return Verdict(**data)
    except (OSError, ValueError, TypeError):
        return None


def save(path: Path, verdict: Verdict) -> None:
    from zizi.files import write_json

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, asdict(verdict))
    except Exception:  # noqa: BLE001 - a read-only cache means checking again next time
        pass


def second_order(
    y: torch.Tensor, inputs: list[torch.Tensor], dy: torch.Tensor
) -> list[torch.Tensor]:
    """y, its first derivatives, and the second derivatives of Σ|d|² (R1's shape) and
    of <d, dy> with respect to dy itself (the double backward of a linear op)."""
    grads = torch.autograd.grad(y, inputs, dy, create_graph=True)
    penalty = sum(g.float().square().sum() for g in grads)
    wrt = [*inputs, dy] if dy.requires_grad else inputs
    second = (
        torch.autograd.grad(penalty, wrt, allow_unused=True)
        if penalty.requires_grad
        else [None] * len(wrt)
    )
    second = [s if s is not None else torch.zeros_like(t) for s, t in zip(second, wrt)]
    return [y, *grads, *second]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pairs(
    cases: Iterable[tuple[str, Callable[[torch.dtype], tuple[list, list]]]], device: torch.device
) -> Iterator[Comparison]:
    """Each case run in each dtype: (name, dtype, kernel-path tensors, reference tensors)."""
    for name, make in cases:
        for dtype in dtypes(device):
            got, want = make(dtype)
            yield name, dtype, got, want
