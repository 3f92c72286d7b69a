"""The README's fresh-machine commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_ci_runs_the_readme_test_command():
    main_job, tests = _commands()[:2]
    assert "pytest" in tests and "scripts/setup.sh" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests.strip() in [line.strip() for line in ci]


def test_main_job_uses_shipped_files():
    main_job = _commands()[0]
    for path in re.findall(r"tests/fixtures/\S+", main_job):
        assert (ROOT / path).is_file(), path


def test_main_job_is_the_demo_and_its_frame_is_shipped():
    main_job = _commands()[0]
    assert main_job.strip() == "bash scripts/setup.sh && .venv/bin/zizi demo"
    section = (ROOT / "README.md").read_text().split("## Fresh machine", 1)[1].split("\n## ", 1)[0]
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", section)
    assert images, "the fresh-machine section shows a frame of the demo video"
    for path in images:
        assert (ROOT / path).is_file(), path
