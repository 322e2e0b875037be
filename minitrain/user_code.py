"""A user's own classes, named by a `_target_` (a model, callback, optimizer): the folders their modules are imported
from, and what to say when one cannot be imported.

The `minitrain` script, unlike `python -m`, puts no folder of the user's on `sys.path`; the CLI adds the current
folder and, for `-cd DIR`, DIR and the folder beside it, after everything installed (so they never shadow a package).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_added: list[str] = []  # the folders add_search_paths put on sys.path, in order


def search_folders(config_dir: str | None = None) -> list[Path]:
    """The current folder, then a `-cd` config folder and the folder holding it (where its modules sit beside it)."""
    folders = [Path.cwd()]
    if config_dir:
        cd = Path(config_dir).expanduser().resolve()
        folders += [cd, cd.parent]
    return folders


def add_search_paths(folders: list[Path]) -> None:
    """Append each existing folder to `sys.path`, after the installed packages; remember them for the messages."""
    for folder in folders:
        path = str(folder.resolve())
        if folder.is_dir() and path not in sys.path:
            sys.path.append(path)
            _added.append(path)


def locate(target: str) -> Any:
    """The object a dotted `target` names (`mymodels.Net`, `pkg.mod.Class.Inner`), importing its module; an
    ImportError or AttributeError when it is not there. Unlike hydra.utils.get_class it logs nothing."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and not name.startswith(e.name):  # the module exists but needs a missing one
                raise
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(f"No module named '{parts[0]}'", name=parts[0])


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def import_problem(target: str, error: BaseException) -> str | None:
    """What to say when `target` cannot be imported because a module is missing (None for any other error): where
    minitrain looked, and what to do."""
    missing = next((e for e in _chain(error) if isinstance(e, ModuleNotFoundError) and e.name), None)
    if missing is None:
        return None
    module = missing.name
    if not target.startswith(module):  # the user's module was found; a module it imports is not installed
        return (f"{target}: its module imports '{module}', which is not installed; install it "
                f"(pip install {module.split('.')[0]}) in the environment minitrain runs in")
    where = ", ".join(_added) if _added else "the current folder"
    return (f"{target}: no module '{module}' was found. minitrain imports your own modules from {where}, then from "
            f"PYTHONPATH and the installed packages: put {module.replace('.', '/')}.py in one of those folders, or "
            "set PYTHONPATH to the folder holding it (export PYTHONPATH=/path/to/that/folder)")
