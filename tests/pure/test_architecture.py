"""The import rules of the house, checked over the source by import-linter (its contracts
are in pyproject.toml): entry points on top; hosting; the workflow and the projections;
the activities, the event-store reader and the views; the connection; how it is watched
(observability); the contract and the domain at the bottom, importing nothing of ours.
No package imports itself in a circle."""

import shutil
import subprocess
import sysconfig
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sysconfig.get_path("scripts")) / "lint-imports")
PACKAGES = [
    "contract",
    "domain",
    "views",
    "activities",
    "connection",
    "eventstore",
    "workflows",
    "hosting",
    "orders_cli",
    "projections",
    "observability",
]


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_imports_go_one_way():
    result = lint_imports(PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_activity_that_imports_the_workflow_is_caught(tmp_path):
    for package in PACKAGES:
        shutil.copytree(PROJECT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    gateways = tmp_path / "activities" / "gateways.py"
    gateways.write_text(gateways.read_text() + "\nimport workflows.order_workflow  # an upward import\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "activities.gateways -> workflows.order_workflow" in result.stdout
