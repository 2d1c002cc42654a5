"""The import rules of the house, checked over the source by import-linter (its contracts
are in pyproject.toml): entry points on top; hosting; the workflow and the projections;
the activities, the event-store reader and the views; the connection; how it is watched
(observability) and how payloads are sealed (encryption); the contract and the domain at
the bottom, importing nothing of ours. No package imports itself in a circle, and no room
is entered except through its face (its `__init__.py`)."""

import shutil
import subprocess
import sysconfig
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sysconfig.get_path("scripts")) / "lint-imports")
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())
ROOMS = PYPROJECT["tool"]["importlinter"]["root_packages"]
CONTRACTS = PYPROJECT["tool"]["importlinter"]["contracts"]


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def a_copy_of_the_rooms(tmp_path: Path) -> Path:
    for room in ROOMS:
        shutil.copytree(PROJECT / room, tmp_path / room, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    return tmp_path


def test_imports_go_one_way_and_every_room_is_entered_through_its_face():
    result = lint_imports(PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(CONTRACTS)} kept, 0 broken" in result.stdout


def test_every_room_is_named_in_every_list_and_each_with_modules_has_a_face_contract():
    rooms_here = sorted(
        path.parent.name for path in PROJECT.glob("*/__init__.py") if path.parent.name not in {"tests", "benchmarks"}
    )
    assert sorted(ROOMS) == rooms_here
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == rooms_here
    assert set(rooms_here) <= set(PYPROJECT["tool"]["mypy"]["files"])
    assert set(rooms_here) <= set(PYPROJECT["tool"]["ruff"]["lint"]["isort"]["known-first-party"])
    layered = {room.strip() for layer in CONTRACTS[0]["layers"] for room in layer.split("|")}
    assert layered == set(rooms_here)
    with_modules = {room for room in rooms_here if len(list((PROJECT / room).glob("*.py"))) > 1}
    protected = {c["protected_modules"][0].removesuffix(".*") for c in CONTRACTS if c["type"] == "protected"}
    assert protected == with_modules


def lint_with(tmp_path: Path, module: str, line: str) -> str:
    """What import-linter says of a copy of the rooms with `line` added to `module`."""
    copy = a_copy_of_the_rooms(tmp_path)
    planted = copy / module
    planted.write_text(planted.read_text() + f"\n{line}\n")
    result = lint_imports(copy)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout
    return result.stdout


def test_an_activity_that_imports_the_workflow_is_caught(tmp_path):
    said = lint_with(tmp_path, "activities/gateways.py", "import workflows.order_workflow  # an upward import")
    assert "activities.gateways -> workflows.order_workflow" in said


def test_a_room_entered_past_its_face_is_caught(tmp_path):
    said = lint_with(
        tmp_path, "projections/projector.py", "from eventstore.history import EnvelopeReader  # past the face"
    )
    assert "eventstore: other rooms import it through its face" in " ".join(said.split())
    assert "projections.projector -> eventstore.history" in said
