"""Kernels check themselves against their references before they are trusted.

The compiled bindings are emulated on the CPU (tests/helpers/ops_emulation.py) and the
real decision (`Plugin.use`) is kept, so what runs is exactly what a GPU process does on
first use: the self-check, the cached verdict, the fallback and its one warning. A
planted wrong kernel must be caught and replaced by the reference; a correct one used.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from tests.helpers import ops_emulation
from zizi.errors import OpsCheckError
from zizi.ops import _build, _selfcheck
from zizi.ops import bias_act as ba
from zizi.ops import upfirdn2d as ud


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIZI_CACHE", str(tmp_path))
    monkeypatch.setenv("ZIZI_OPS", "auto")
    return tmp_path / "ops"


class Counted:
    """A binding that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a):
        self.calls += 1
        return self.fn(*a)


def tanh_second_order_flipped(x, b, dy, dy2, dim, act, order, *rest):
    """Right everywhere except tanh's second derivative (R1 through a tanh would be wrong)."""
    out = ops_emulation.fake_bias_act(x, b, dy, dy2, dim, act, order, *rest)
    return -out if order == 2 and act == ba.ACT_CODES["tanh"] else out


def up2_fp16_shifted(x, f, upx, upy, downx, downy, *rest):
    """Right except fp16 2x upsampling, whose output is shifted by one pixel."""
    out = ops_emulation.fake_upfirdn2d(x, f, upx, upy, downx, downy, *rest)
    return out.roll(1, dims=3) if x.dtype == torch.float16 and upx == 2 else out


def _x(shape=(2, 8, 5, 6)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(9))


def test_a_correct_kernel_is_checked_once_then_used(cache, monkeypatch):
    fake = Counted(ops_emulation.fake_upfirdn2d)
    ops_emulation.install(monkeypatch, checked=True, upfirdn2d=fake)
    f = ud.setup_filter([1, 3, 3, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a passing check says nothing
        y = ud.upsample2d(_x(), f)
    checked = fake.calls  # the check's calls and this one
    assert checked > 50  # the check ran every case: forward and both derivatives, 3 dtypes
    torch.testing.assert_close(y, ud.upfirdn2d_ref(_x(), f, up=2, padding=(2, 1, 2, 1), gain=4))
    ud.upsample2d(_x(), f)
    assert fake.calls == checked + 1  # used (once per call), and not checked again
    v = ud._PLUGIN.verdicts["cpu"]
    assert v.ok and v.cases == 8 * 3 * 4  # 8 cases x 3 dtypes x (y, dx, d²/dx = 0, d²/d(dy))
    assert 0 < v.worst_error < v.worst_tol
    path = ud._PLUGIN.verdict_path(torch.device("cpu"))
    assert path.parent == _build.build_dir(ud._PLUGIN.spec)  # beside the built kernel
    assert json.loads(path.read_text())["ok"] is True
    # another process: the cached verdict is read, nothing is checked again
    monkeypatch.setattr(ud._PLUGIN, "verdicts", {})
    ud.upsample2d(_x(), f)
    assert fake.calls == checked + 2


@pytest.mark.parametrize(
    "op,bug", [("bias_act", tanh_second_order_flipped), ("upfirdn2d", up2_fp16_shifted)]
)
def test_a_wrong_kernel_is_caught_and_falls_back(cache, monkeypatch, op, bug):
    fake = Counted(bug)
    ops_emulation.install(monkeypatch, checked=True, **{op: fake})
    plugin = {"bias_act": ba._PLUGIN, "upfirdn2d": ud._PLUGIN}[op]
    f = ud.setup_filter([1, 3, 3, 1])
    x = _x()
    run = {
        "bias_act": lambda: ba.bias_act(x, torch.zeros(8), act="tanh"),
        "upfirdn2d": lambda: ud.upsample2d(x.half(), f).float(),
    }[op]
    ref = {
        "bias_act": lambda: ba.bias_act_ref(x, torch.zeros(8), act="tanh"),
        "upfirdn2d": lambda: ud.upfirdn2d_ref(
            x.half(), f, up=2, padding=(2, 1, 2, 1), gain=4
        ).float(),
    }[op]
    with pytest.warns(RuntimeWarning) as caught:
        y = run()
    (w,) = [w for w in caught if "zizi" in str(w.message)]
    msg = str(w.message)
    assert f"'{op}' disagrees with its PyTorch reference" in msg
    assert "FAILED" in msg and "error" in msg and ".selfcheck.log" in msg
    torch.testing.assert_close(y, ref())  # the reference computed it
    calls = fake.calls
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per process, not one per call
        run()
    assert fake.calls == calls  # the wrong kernel is not used again
    log = plugin.selfcheck_log().read_text()
    assert "MISMATCH" in log and ("tanh" in log if op == "bias_act" else "2x up" in log)
    if op == "upfirdn2d":  # only the planted case, fp16, is flagged
        assert all("float16" in line for line in log.splitlines() if "MISMATCH" in line)
    # ZIZI_OPS=cuda makes the same verdict (read from the cache) an error
    monkeypatch.setenv("ZIZI_OPS", "cuda")
    monkeypatch.setattr(plugin, "verdicts", {})
    with pytest.raises(OpsCheckError, match=f"'{op}' disagrees .*selfcheck.log"):
        run()
    assert fake.calls == calls


def test_a_crashing_kernel_is_a_failed_check(cache, monkeypatch):
    def crash(*a):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    ops_emulation.install(monkeypatch, checked=True, upfirdn2d=crash)
    with pytest.warns(RuntimeWarning, match="check failed to run: RuntimeError: CUDA error"):
        y = ud.upsample2d(_x(), ud.setup_filter([1, 3, 3, 1]))
    assert y.shape == (2, 8, 10, 12)
    assert not ud._PLUGIN.verdicts["cpu"].ok


def test_the_check_leaves_random_streams_and_grad_mode_alone(cache, monkeypatch):
    ops_emulation.install(monkeypatch, checked=True)
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    with torch.inference_mode():
        ud.upsample2d(_x(), ud.setup_filter([1, 3, 3, 1]))  # first use: the check runs
        assert torch.is_inference_mode_enabled()
    assert torch.equal(torch.rand(3), expected)


def test_verdict_key_follows_device_and_code(tmp_path):
    src = tmp_path / "op.py"
    src.write_text("a = 1")
    cpu = torch.device("cpu")
    key = _selfcheck.verdict_key(cpu, [src])
    assert key == _selfcheck.verdict_key(cpu, [src])
    src.write_text("a = 2")
    assert key != _selfcheck.verdict_key(cpu, [src])


def test_doctor_reports_each_ops_verdict(cache, monkeypatch):
    from zizi.cli.doctor import ops_facts

    ops_emulation.install(monkeypatch, checked=True, bias_act=tanh_second_order_flipped)
    monkeypatch.setattr(_build.Plugin, "check_device", lambda self: torch.device("cpu"))
    facts = {op["name"]: op for op in ops_facts(build=True)["ops"]}
    assert facts["upfirdn2d"]["check"]["ok"] is True
    assert facts["bias_act"]["check"]["ok"] is False
    assert "disagrees" in facts["bias_act"]["uses"]


@pytest.mark.gpu
def test_the_real_kernels_pass_their_check_on_this_gpu(tmp_path):
    """On a GPU: build both ops and run their self-checks (the same as first use does)."""
    cuda = torch.device("cuda", 0)
    for name, plugin in _build.all_plugins().items():
        assert plugin.try_load() is not None, f"{name}: {plugin.error}"
        v = _selfcheck.run(plugin.selfcheck, plugin.module, cuda, tmp_path / f"{name}.log")
        assert v.ok, f"{name}: {v.summary()}\n{(tmp_path / f'{name}.log').read_text()}"
