"""minitrain: train small image models from the command line with Hydra configs and a callback-driven Learner."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `from minitrain import load_run` imports torch only when asked for, so `minitrain --help` stays fast.
    if name == "load_run":
        from minitrain.api import load_run

        return load_run
    raise AttributeError(f"module 'minitrain' has no attribute {name!r}")
