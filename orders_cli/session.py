"""How the `orders` command reaches what it reads: a Temporal server, or a history file."""

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client

from connection import load_settings, open_connection
from contract import SEARCH_ATTRIBUTES
from domain import OrderStream
from eventstore import EventStore, read_history_file


@asynccontextmanager
async def temporal() -> AsyncIterator[Client]:
    """A client as the settings say (or on the embedded server), closed afterwards."""
    connection = await open_connection(load_settings(), SEARCH_ATTRIBUTES)
    try:
        yield connection.client
    finally:
        await connection.close()


def is_history_file(target: str) -> bool:
    """Whether TARGET names an exported history rather than an order id."""
    return target.endswith(".json") or Path(target).is_file()


async def read_stream(target: str) -> OrderStream:
    """The order's stream, from an exported history file or from the server's history."""
    if is_history_file(target):
        return read_history_file(target)
    async with temporal() as client:
        return await EventStore(client).read_stream(target)


def print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    if not isinstance(value, BaseModel):
        print(json.dumps([item.model_dump(mode="json") for item in value], indent=2))
    else:
        print(value.model_dump_json(indent=2))
