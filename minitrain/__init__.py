"""minitrain: train small image models from the command line with Hydra configs and a callback-driven Learner."""

from minitrain.version import __version__

__all__ = ["__version__", "load_run"]


def __getattr__(name: str):
    # `from minitrain import load_run` imports torch only when asked for, so `minitrain --help` stays fast.
    if name == "load_run":
        from minitrain.inference import load_run

        return load_run
    raise AttributeError(f"module 'minitrain' has no attribute {name!r}")
