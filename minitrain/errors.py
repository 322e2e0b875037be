"""Errors a user can fix: each message names the problem and the fix, and is shown without a traceback."""


class MinitrainError(Exception):
    """A problem with the user's input or environment, explained in the message."""

    exit_code = 2


class ConfigError(MinitrainError):
    """A config value that composes but cannot be used (a zero batch size, a missing device)."""


class DataError(MinitrainError):
    """Data that cannot be found or read."""


class OutputError(MinitrainError):
    """A run or sweep directory that cannot be written."""


class DivergedError(MinitrainError):
    """The loss became NaN or infinite."""

    exit_code = 3


class ResumeError(MinitrainError):
    """A `resume=` directory that is not a run, or whose checkpoint cannot be read."""


class CheckpointWriteError(MinitrainError):
    """A checkpoint could not be written (disk full, permissions); the previous one is intact."""

    exit_code = 1
