"""minitrain: train small image models from the command line with Hydra configs and a callback-driven Learner."""

__version__ = "0.1.0"
