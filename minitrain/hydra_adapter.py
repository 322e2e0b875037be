"""The one place minitrain reaches into Hydra's private modules (`hydra._internal`), and why.

`minitrain --help` lists every config group with its options and composes the config once, and the CLI composes
a command line before Hydra runs it (minitrain/command_line.py), for the same command line `@hydra.main` would see
(-cp, -cn, -cd, hydra.searchpath). Hydra's public API composes (`hydra.compose`) but offers no loader that lists
group options across a -cd folder with @hydra.main's search path, nor its argument parser; these do. Pinned Hydra
versions (constraints.txt) keep them steady.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_automatic_config_search_path, get_args_parser
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import HydraException, SearchPathException
from hydra.types import RunMode
from omegaconf import DictConfig


def args_parser() -> argparse.ArgumentParser:
    """Hydra's own command-line parser (-m, -cp, -cn, -cd, overrides)."""
    return get_args_parser()


def load_hydra(config_dir: str, args: argparse.Namespace):
    """Hydra's config loader for the tree the command line names: -cp/-cn choose the primary config as in
    @hydra.main, -cd puts the user's folder first, hydra.searchpath=[...] adds more."""
    # -cp is relative to the file of @hydra.main (minitrain/cli.py), which lies beside this one
    search_path = create_automatic_config_search_path(__file__, None, args.config_path or config_dir)
    if args.config_dir is not None:  # as Hydra's own -cd does (hydra/_internal/utils.py)
        user_dir = os.path.abspath(args.config_dir)
        if not os.path.isdir(user_dir):
            raise SearchPathException(f"Additional config directory '{user_dir}' not found")
        search_path.prepend(provider="command-line", path=f"file://{user_dir}", anchor=SearchPathQuery(provider="schema"))
    GlobalHydra.instance().clear()
    return Hydra.create_main_hydra2(task_name="minitrain", config_search_path=search_path)


@contextmanager
def loaded_hydra(config_dir: str, args: argparse.Namespace) -> Iterator[Hydra]:
    """load_hydra's loader for a look at the config, cleared afterwards so that @hydra.main can start its own."""
    try:
        yield load_hydra(config_dir, args)
    finally:
        GlobalHydra.instance().clear()


def compose(hydra, config_name: str, overrides: list[str], multirun: bool = False) -> DictConfig:
    """The config (Hydra's own node included) that `overrides` compose, as @hydra.main would compose it; a
    HydraException (or OmegaConf's error) when they do not. In a multirun the sweep's values are left out."""
    mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    return hydra.compose_config(config_name, overrides, run_mode=mode, from_shell=True)


def group_options(hydra, group: str) -> list[str] | None:
    """The options of config group `group` on the search path (the user's -cd folder's too); None when no group
    of that name exists."""
    loader = hydra.config_loader
    return loader.get_group_options(group) if loader.repository.group_exists(group) else None


def group_names(hydra) -> list[str]:
    """The top-level config groups on the search path (Hydra's own and the schemas left out)."""
    return [g for g in hydra.config_loader.list_groups("") if g not in ("hydra", "schema")]


def parse_override(text: str) -> Override:
    """One command-line override as Hydra's grammar reads it (an OverrideParseException when it cannot)."""
    return OverridesParser.create().parse_override(text)


def first_job(overrides: list[str]) -> list[str] | None:
    """The overrides of a sweep's first job: a list of values stands for its first (`-m a=1,2 b=x,y`: a=1 b=x), as
    Hydra's basic sweeper splits it, and an interval for its lower end, where an Optuna search starts; None when
    a sweep cannot be read without the config (a glob)."""
    job = []
    try:
        for override in OverridesParser.create().parse_overrides(overrides):
            key, value = override.get_key_element(), override.value()
            if not override.is_sweep_override():
                job.append(override.input_line)
            elif isinstance(value, IntervalSweep):
                job.append(f"{key}={value.start}")
            else:
                job.append(f"{key}={next(iter(override.sweep_string_iterator()))}")
    except (HydraException, StopIteration, TypeError, ValueError):
        return None
    return job
