"""The command line's Hydra overrides (`key=value`, `+key=value`, `~key`), read and written in one place.

Light (no Hydra, no torch): the CLI rewrites its arguments with these before Hydra parses them.
"""

from __future__ import annotations

import os
import re


def key_of(override: str) -> str:
    """The dotted key an override sets, adds or deletes: `+trainer.epochs=3` -> `trainer.epochs`."""
    return override.split("=", 1)[0].lstrip("+~")


def value_of(override: str) -> str | None:
    """The value an override gives, unquoted (None for `~key` or a bare `key`)."""
    if "=" not in override:
        return None
    return override.split("=", 1)[1].strip().strip("'\"")


def with_key(argv: list[str], *keys: str) -> list[str]:
    """The overrides among `argv` that set, add or delete one of `keys`."""
    return [a for a in argv if key_of(a) in keys]


def without_key(argv: list[str], *keys: str) -> list[str]:
    """`argv` less the overrides of `keys`."""
    return [a for a in argv if key_of(a) not in keys]


def quoted(value: str) -> str:
    """A value Hydra's override parser reads back as exactly this string (spaces, commas, brackets and all)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


PLAIN = re.compile(r"[\w./:@%+-]+")  # a value Hydra's override parser reads as it is, unquoted


def bare_words(overrides: list[str]) -> list[str]:
    """The overrides that are neither `key=value` nor `~key` (`train` in `minitrain train`)."""
    return [o for o in overrides if "=" not in o and not o.startswith("~")]


def expand_home(argv: list[str]) -> list[str]:
    """`argv` with each `key=~/path` (`key=~`, `key=~user/path`) written as the quoted path it means: shells leave a
    `~` after `key=` alone, and Hydra's grammar cannot read one. A sweep or list value (`a=~/x,~/y`) is left as it is."""
    def expanded(arg: str) -> str:
        key, eq, value = arg.partition("=")
        if not eq or arg.startswith("-") or not value.startswith("~") or any(c in value for c in ",[]()'\""):
            return arg
        home = os.path.expanduser(value)
        if home == value:  # ~nosuchuser: Hydra's message says how to quote it
            return arg
        return f"{key}={home if PLAIN.fullmatch(home) else quoted(home)}"  # quoted only where Hydra needs it

    return [expanded(a) for a in argv]
