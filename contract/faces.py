"""A room's face (its `__init__.py`) that offers names it loads only when one is first asked
for (PEP 562): what a room offers is named in one place, and a caller that needs one part
of a room (`orders --help`, `orders approve`) does not load the rest. At the bottom of the
house so that any room's face may use it."""

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def loaded_when_asked(room: str, offered: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """The face's module `__getattr__`: each name of `offered` (the room's module → the
    names it offers) loaded from that module when first asked for."""
    module_of = {name: f"{room}.{module}" for module, names in offered.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {room!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module_of[name]), name)

    return __getattr__
