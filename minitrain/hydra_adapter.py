"""The one place minitrain reaches into Hydra's private modules (`hydra._internal`), and why.

`minitrain --help` lists every config group with its options and composes the config once, for the same
command line `@hydra.main` would see (-cp, -cn, -cd, hydra.searchpath). Hydra's public API composes
(`hydra.compose`) but offers no loader that lists group options across a -cd folder with @hydra.main's
search path, nor its argument parser; these do. Pinned Hydra versions (constraints.txt) keep them steady.
"""

from __future__ import annotations

import argparse
import os

from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_automatic_config_search_path, get_args_parser
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import SearchPathException


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
