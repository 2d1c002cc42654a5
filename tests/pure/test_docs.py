"""The README's commands are the ones that run."""

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)


def test_ci_runs_the_readmes_test_command_verbatim():
    readme = (PROJECT / "README.md").read_text()
    ci_command = (PROJECT / ".ci" / "run").read_text().strip().splitlines()[-1]
    quick_start = shell_blocks(readme)[:2]
    assert quick_start[1].strip() == ci_command


def test_the_readmes_first_command_installs_and_runs_the_starter():
    first = shell_blocks((PROJECT / "README.md").read_text())[0].strip()
    assert first == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python starter.py"
