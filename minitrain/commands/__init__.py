"""The subcommands: `minitrain eval|predict|export run=DIR KEY=VALUE ...` use a finished run, `minitrain summary
[overrides]` describes the configured model, `minitrain compare DIR ...` sets runs side by side.

Each lives in its own module with an options dataclass (the keys it accepts, typed), a HELP text and `run`.
Only OmegaConf is imported here, so a typo is reported before torch loads.
"""

from __future__ import annotations

import importlib
import sys

from minitrain.errors import MinitrainError, fail

COMMANDS = {"eval": "minitrain.commands.evaluate", "predict": "minitrain.commands.predict",
            "export": "minitrain.commands.export", "summary": "minitrain.commands.summary",
            "compare": "minitrain.commands.compare"}
TRAINING_WORDS = ("train", "fit", "run", "training")  # what a user may type to train: training takes no command word


def not_a_command(word: str, first: bool = True) -> str:
    """What to say of a bare `word` on a training command line (`minitrain evaluate`): the commands there are,
    the nearest of them, and training's own form."""
    from minitrain.suggest import did_you_mean, nearest

    close = did_you_mean(nearest(word, COMMANDS))
    where = "a minitrain command" if first else "a KEY=VALUE override, and commands come first"
    train = ("Training takes no command word: drop it, as in minitrain trainer.epochs=3" if word in TRAINING_WORDS
             else "To train, give KEY=VALUE overrides only: minitrain [KEY=VALUE ...], e.g. minitrain trainer.epochs=3")
    return (f"'{word}' is not {where}{f' ({close})' if close else ''}. The commands are: "
            f"{', '.join(f'minitrain {c}' for c in COMMANDS)} (each with --help). {train}; "
            "minitrain --help lists the keys.")


def parse_options(name: str, schema: type, argv: list[str]):
    """`key=value` arguments checked against `schema` (a dataclass); a MinitrainError names a bad one."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    keys = ", ".join(f"{k}=" for k in OmegaConf.to_container(OmegaConf.structured(schema)))
    for arg in argv:
        if "=" not in arg or arg.startswith(("-", "+", "~")):
            raise MinitrainError(f"minitrain {name}: '{arg}' is not a KEY=VALUE option. It takes: {keys} "
                                 f"(see minitrain {name} --help).")
    try:
        options = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))
        missing = sorted(OmegaConf.missing_keys(options))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or ""
        reason = str(e).splitlines()[0]
        raise MinitrainError(f"minitrain {name}: bad option {key + ': ' if key else ''}{reason}. "
                             f"It takes: {keys} (see minitrain {name} --help).") from None
    if missing:
        raise MinitrainError(f"minitrain {name} needs {', '.join(f'{k}=...' for k in missing)} "
                             f"(see minitrain {name} --help).")
    return options


def run_command(name: str, argv: list[str]) -> None:
    """Run subcommand `name` with its command-line arguments; bad input exits 2 with a one-line message."""
    from minitrain.user_code import add_search_paths, search_folders

    add_search_paths(search_folders())  # a trusted run's own model class, from the current folder
    module = importlib.import_module(COMMANDS[name])
    if "--help" in argv or "-h" in argv:
        print(module.HELP)
        return
    try:
        parse = getattr(module, "parse", None)  # a command that takes overrides reads its own arguments
        options = parse(argv) if parse else parse_options(name, module.Options, argv)
        module.run(options)
    except MinitrainError as e:
        fail(str(e), e.exit_code)
    except OSError as e:  # a report folder that cannot be written (read-only run, full disk)
        where = f" {e.filename}" if e.filename else ""
        fail(f"minitrain {name}: cannot write{where}: {e.strerror or e}. Choose another folder with out=FOLDER.")
    except KeyboardInterrupt:
        sys.exit(130)
