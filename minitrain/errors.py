"""Errors a user can fix: each message names the problem and the fix, and is shown without a traceback."""


class MinitrainError(Exception):
    """A problem with the user's input or environment, explained in the message."""

    exit_code = 2


class ConfigError(MinitrainError):
    """A config value that composes but cannot be used (a zero batch size, a missing device)."""


class DataError(MinitrainError):
    """Data that cannot be found or read."""


class OutputError(MinitrainError):
    """A run or sweep directory that cannot be used: unwritable, or in use by another live run."""


class WriteError(MinitrainError):
    """A file could not be written (disk full, permissions); the file it was to replace is intact."""

    exit_code = 1

    def __init__(self, path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"Could not write {path}: {reason}.")


class DivergedError(MinitrainError):
    """The loss became NaN or infinite."""

    exit_code = 3


class ResumeError(MinitrainError):
    """A `resume=` that cannot continue its run exactly (another model or optimizer, no checkpoint callback)."""


class CheckpointError(MinitrainError):
    """A checkpoint file that cannot be used: unreadable, not plain data, or describing something it must not."""


class RunError(MinitrainError):
    """A run directory, checkpoint choice or input that eval, predict, export or load_run cannot use."""


class CheckpointWriteError(MinitrainError):
    """A checkpoint could not be written (disk full, permissions); the previous one is intact."""

    exit_code = 1


def print_error(message: str) -> None:
    """'Error: message' on stderr, red in a terminal. Never hard-wrapped, so a log or CI output keeps each
    message on one line; the message is plain text (brackets in it are not rich markup)."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, highlight=False).print(Text.assemble(("Error:", "bold red"), " ", message), soft_wrap=True)


class Exit(SystemExit):
    """minitrain's own exit, its message already printed: the CLI passes its code on as it is (a plain
    SystemExit(1) from Hydra means a config that did not compose, which is bad input: exit 2)."""


def fail(message: str, exit_code: int = 2) -> None:
    """Print `message` as an error and exit with `exit_code` (2: bad input)."""
    print_error(message)
    raise Exit(exit_code)
