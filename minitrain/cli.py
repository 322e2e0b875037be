"""The `minitrain` command: Hydra composes the config, then `minitrain.job` trains.

Only Hydra and the config schemas are imported here, so `--help`, `--cfg` and tab
completion answer without loading torch.
"""

import sys
import warnings

import hydra
from omegaconf import DictConfig

from minitrain.command_line import check_composes
from minitrain.commands import COMMANDS, not_a_command, run_command
from minitrain.config import config_dir, register_configs
from minitrain.distributed import worker_argv
from minitrain.errors import Exit, MinitrainError, fail
from minitrain.hydra_adapter import args_parser
from minitrain.overrides import bare_words, expand_home
from minitrain.rundir import resume_argv
from minitrain.user_code import add_search_paths, search_folders


register_configs()


@hydra.main(version_base=None, config_path=config_dir(), config_name="config")
def _train(cfg: DictConfig) -> float:
    """One job; returns the number a hyper-parameter search optimises (minitrain/search.py)."""
    from minitrain.job import run_job  # torch loads here, once a run really starts
    from minitrain.search import objective

    return objective(run_job(cfg), str(cfg.model.task), cfg.optimized_metric)


def versions() -> str:
    """minitrain's version, and those of the libraries that decide what a run does."""
    from importlib.metadata import PackageNotFoundError, version

    from minitrain.version import __version__

    def of(name: str) -> str:
        try:
            return version(name)  # read from the installed metadata: `--version` does not import torch
        except PackageNotFoundError:
            return "not installed"

    return f"minitrain {__version__} (torch {of('torch')}, Hydra {of('hydra-core')}, Python {sys.version.split()[0]})"


def check_plugins(argv: list[str]) -> None:
    """A plugin group option whose plugin is not installed: say which extra brings it."""
    import importlib.util

    for arg in argv:
        if arg.startswith("hydra/sweeper=optuna") and not importlib.util.find_spec("optuna"):
            fail('hydra/sweeper=optuna needs Optuna: pip install "minitrain[scale]" (or pip install optuna).')


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] and sys.argv[1] in COMMANDS:  # minitrain eval|predict|export ...: use a finished run
        return run_command(sys.argv[1], sys.argv[2:])
    if "--version" in sys.argv[1:]:
        print(versions())
        return
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        from minitrain.help import print_help

        print_help(config_dir(), [a for a in sys.argv[1:] if a not in ("--help", "-h")])
        return
    check_arguments(sys.argv[1:])
    check_words(sys.argv[1:])
    add_search_paths(search_folders(args_parser().parse_args(sys.argv[1:]).config_dir))  # your own modules
    check_plugins(sys.argv[1:])
    try:
        sys.argv[1:] = worker_argv(resume_argv(expand_home(sys.argv[1:])))
    except MinitrainError as e:
        fail(str(e), e.exit_code)
    check_composes(sys.argv[1:])  # a misspelt key, group or option: "did you mean ...?", before Hydra says "use +"
    # configs/hydra/launcher/submitit_slurm.yaml replaces the plugin's config of that name on purpose; Hydra
    # still types it with the plugin's schema, and warns that this matching by name is deprecated.
    warnings.filterwarnings("ignore", message=r"(?s).*validated against ConfigStore schema with the same name")
    try:
        _train()
    except KeyboardInterrupt:  # Ctrl-C while starting up, before the run's own handler is in place
        fail("Interrupted while starting up; nothing was trained.", exit_code=130)
    except Exit:
        raise  # minitrain's own exit: its message is out, its code stands
    except SystemExit as e:
        # Hydra prints its own message and exits 1 when an override does not compose (unknown option or key,
        # wrong type; in a multirun, as each job's config composes): bad input, which minitrain exits 2 for.
        if e.code == 1:
            sys.exit(2)
        raise


MAX_ARGUMENT = 4096  # characters: Hydra names files after overrides, and no file system takes a longer path


def check_arguments(argv: list[str]) -> None:
    """One line and exit 2 for an argument Hydra cannot take: bytes that are not UTF-8, control characters, or
    a length past what a path can hold."""
    for arg in argv:
        if not arg.isprintable() or not _utf8(arg):
            fail(f"The argument {arg!r} holds bytes that are not UTF-8 text (or control characters), which Hydra "
                 "cannot read: rename the file or folder it names, or pass a path without them.")
        if len(arg) > MAX_ARGUMENT:
            fail(f"The argument {arg[:40]!r}... is {len(arg)} characters long; minitrain takes at most {MAX_ARGUMENT} "
                 "(Hydra names files after overrides). Put long values in a config file (-cd DIR).")


def check_words(argv: list[str]) -> None:
    """One line and exit 2 for a word that is no override (`minitrain train`, `minitrain evaluate`): the commands
    there are, the nearest one, and how training is asked for."""
    words = bare_words(args_parser().parse_args(argv).overrides)
    if words:
        fail(not_a_command(words[0], first=bool(argv) and argv[0] == words[0]))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # undecodable bytes in argv arrive as lone surrogates
    except UnicodeEncodeError:
        return False
    return True


if __name__ == "__main__":
    main()
