"""The README's commands are the ones that run, and the docs say what the code does."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PROJECT = Path(__file__).resolve().parents[2]


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)


def test_ci_runs_the_readmes_test_command_verbatim():
    readme = (PROJECT / "README.md").read_text()
    ci_command = (PROJECT / ".ci" / "run").read_text().strip().splitlines()[-1]
    quick_start = shell_blocks(readme)[:2]
    assert quick_start[1].strip() == ci_command


def test_the_test_command_installs_the_versions_tested_and_they_fall_in_pyprojects_ranges():
    ci_command = (PROJECT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ".venv/bin/pip install -c constraints.txt -e '.[test]'" in ci_command
    pinned = {
        canonicalize_name(name): Version(version)
        for line in (PROJECT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
        for name, version in [line.split("==")]
    }
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(text) for text in (*project["dependencies"], *project["optional-dependencies"]["test"])]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not pinned in constraints.txt"
        assert pinned[name] in requirement.specifier, f"{name} {pinned[name]} is outside pyproject's {requirement}"


def test_the_readmes_first_command_installs_and_runs_the_starter():
    first = shell_blocks((PROJECT / "README.md").read_text())[0].strip()
    assert first == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python starter.py"


# -- What the docs say the code does, checked against the code ----------------------

PRODUCTION = [
    *(PROJECT / room for room in (
        "activities", "client", "connection", "contract", "domain", "encryption", "eventstore", "hosting",
        "observability", "orders_cli", "programs", "projections", "storage", "views", "workflows",
    )),
    PROJECT / "worker.py",
    PROJECT / "starter.py",
]  # fmt: skip


def production_source() -> str:
    files = [path for place in PRODUCTION for path in ([place] if place.is_file() else sorted(place.rglob("*.py")))]
    return "\n".join(path.read_text() for path in files)


def doc_section(page: str, heading: str) -> str:
    """The section of docs/`page` under `heading`, to the next heading of its level or above."""
    text = (PROJECT / "docs" / page).read_text()
    start = text.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    following = re.search(rf"\n#{{1,{level}}} ", text[start + len(heading) :])
    return text[start : start + len(heading) + (following.start() if following else len(text))]


def test_the_readme_is_a_map_whose_links_lead_somewhere():
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    linked = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert linked and all((PROJECT / path).is_file() for path in linked), linked


def test_the_exit_code_table_is_the_programs_exit_codes():
    from programs.exits import ExitCode

    table = doc_section("configuration.md", "# Configuration")
    documented = {int(code) for code in re.findall(r"^\| (\d+) \| ", table, flags=re.MULTILINE)}
    assert documented == {code.value for code in ExitCode}
    # One ExitCode for every program: no other exit-code constant, no bare number handed to exit.
    source = production_source()
    assert not re.findall(r"\bEXIT_[A-Z_]+\s*=", source)
    assert not re.findall(r"(?:sys\.exit|exit_now)\(\d+\)", source)


def test_the_settings_table_names_every_setting_the_code_reads_and_no_other():
    read = set(re.findall(r"\"(ORDERS_[A-Z_]+)\"", production_source()))
    table = doc_section("configuration.md", "# Configuration")
    documented = set(re.findall(r"^\| `(ORDERS_[A-Z_]+)` \|", table, flags=re.MULTILINE))
    assert documented == read


def test_every_flag_in_the_orders_synopsis_is_one_its_subcommand_takes():
    from orders_cli.main import build_parser

    parser = build_parser(every=True)
    subcommands = next(action for action in parser._actions if action.dest == "command").choices
    synopsis = shell_blocks(doc_section("using.md", "## The `orders` command"))[0]
    checked = 0
    for line in synopsis.splitlines():
        words = line.split("#")[0].split()
        if len(words) < 2 or words[0] != "orders":
            continue
        taken = {option for action in subcommands[words[1]]._actions for option in action.option_strings}
        flags = set(re.findall(r"--[a-z-]+", " ".join(words)))
        assert flags <= taken, f"{line.strip()}: {flags - taken} not taken by orders {words[1]}"
        checked += 1
    assert checked >= 10


def test_the_json_claim_names_exactly_the_subcommands_without_json():
    from orders_cli.main import build_parser

    parser = build_parser(every=True)
    subcommands = next(action for action in parser._actions if action.dest == "command").choices
    without = {
        name
        for name, sub in subcommands.items()
        if "--json" not in {option for action in sub._actions for option in action.option_strings}
    }
    claim = re.search(r"take no `--json`", doc_section("using.md", "## The `orders` command"))
    assert claim is not None
    sentence = doc_section("using.md", "## The `orders` command")[: claim.end()].rsplit(";", 1)[-1]
    assert set(re.findall(r"`([a-z-]+)`", sentence)) - {"--json"} == without


def test_the_search_attribute_commands_in_the_docs_are_the_contracts():
    from connection.temporal import search_attribute_commands
    from contract import SEARCH_ATTRIBUTES

    section = doc_section("configuration.md", "## Against a real Temporal cluster or Temporal Cloud")
    blocks = [block.strip().splitlines() for block in shell_blocks(section)]
    cloud = next(block for block in blocks if block[0].startswith("tcld "))
    self_hosted = next(block for block in blocks if block[0].startswith("temporal operator"))
    assert cloud == search_attribute_commands(SEARCH_ATTRIBUTES, "my-ns.a1b2c", cloud=True)
    assert self_hosted == search_attribute_commands(SEARCH_ATTRIBUTES, "default", cloud=False)
    assert all(f"`{key.name}`" in section for key in SEARCH_ATTRIBUTES)
