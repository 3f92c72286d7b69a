"""Output names with URL syntax or control bytes in them (issue #21 item 11)."""

from __future__ import annotations

from tests.helpers.cli import invoke


def test_hash_and_question_mark_in_out_render_and_resume(tiny_run, tmp_path):
    folder = tmp_path / "show#1?v=2"
    folder.mkdir()
    out = folder / "a#b%d.mp4"
    r = invoke(
        "render", "shift", tiny_run, "--out", out, "--frames", 4, "--segment", 2, "--device", "cpu"
    )
    assert r.exit_code == 0, r.output  # was: "Error opening input files" at the final join
    assert out.is_file() and out.stat().st_size > 0


def test_resume_in_a_folder_with_url_syntax(tmp_path):
    import numpy as np
    import pytest

    from zizi.render import job

    out = tmp_path / "show#1?v=2" / "a#b.mp4"
    out.parent.mkdir()

    def frames(start, stop, fail_at=None):
        for i in range(start, stop):
            if i == fail_at:
                raise KeyboardInterrupt
            yield [np.full((16, 16, 3), 30 * i, np.uint8)]

    kw = dict(count=4, fps=4, size=(16, 16), plan={"p": 1}, segment_frames=2)
    with pytest.raises(KeyboardInterrupt):
        job.run(
            [job.Output(out, {"statement": "s", "generator": "g"})],
            lambda a, b: frames(a, b, fail_at=3),
            **kw,
        )
    assert not out.exists()
    job.run([job.Output(out, {"statement": "s", "generator": "g"})], frames, resume=True, **kw)
    assert out.is_file() and out.stat().st_size > 0


def test_wall_src_is_url_encoded(tiny_run, tmp_path):
    out = tmp_path / "room #2?%.mp4"
    r = invoke(
        "render", "shift", tiny_run, "--out", out, "--frames", 2, "--channels", 2, "--device", "cpu"
    )
    assert r.exit_code == 0, r.output
    page = (tmp_path / "index.html").read_text()
    assert 'src="room%20%232%3F%25-1.mp4"' in page and 'src="room%20%232%3F%25-2.mp4"' in page


def test_wrote_line_escapes_control_bytes(tiny_run, tmp_path):
    out = tmp_path / "bell\x07.mp4"
    r = invoke("render", "shift", tiny_run, "--out", out, "--frames", 2, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "\x07" not in r.output and "Wrote" in r.output
