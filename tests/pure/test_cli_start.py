"""`orders` starts with what the chosen subcommand needs: its module alone is imported,
`orders --help` lists every subcommand from the catalogue, and the catalogue and the
modules agree on who registers what."""

import argparse
import subprocess
import sys

from orders_cli.arguments import Subcommands
from orders_cli.catalogue import CATALOGUE
from orders_cli.main import build_parser
from tests.integration.helpers import PROJECT

HISTORY = PROJECT / "tests" / "histories" / "golden" / "fulfilled.json"


def loaded_after(argv: list[str]) -> set[str]:
    """The modules a fresh process holds after running `orders ARGV` in it."""
    script = f"import sys\nfrom orders_cli.main import run\nrun({argv!r})\nprint(' '.join(sorted(sys.modules)))\n"
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return set(ran.stdout.splitlines()[-1].split())


def test_reading_an_order_loads_neither_the_codec_servers_http_nor_postgresqls_client():
    loaded = loaded_after(["events", str(HISTORY)])
    assert "orders_cli.reads" in loaded
    assert not {"aiohttp", "psycopg"} & loaded
    assert not {entry.module for entry in CATALOGUE.values()} - {"orders_cli.reads"} & loaded


def test_help_lists_every_subcommand_with_its_synopsis_and_loads_none_of_their_modules():
    parser = build_parser()
    text = parser.format_help()
    for name, entry in CATALOGUE.items():
        assert name in text and entry.synopsis[:40] in " ".join(text.split()), name
    ran = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom orders_cli.main import build_parser\nbuild_parser()\n"
         "print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, cwd=PROJECT, timeout=60,
    )  # fmt: skip
    assert not {entry.module for entry in CATALOGUE.values()} & set(ran.stdout.split())
    assert not {"temporalio", "pydantic", "aiohttp", "psycopg"} & set(ran.stdout.split())


def test_each_module_registers_exactly_the_subcommands_the_catalogue_gives_it():
    import importlib

    for module in {entry.module for entry in CATALOGUE.values()}:
        parser = argparse.ArgumentParser()
        commands = Subcommands(parser)
        importlib.import_module(module).register(commands)
        (choices,) = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        assert set(choices) == {name for name, entry in CATALOGUE.items() if entry.module == module}, module
