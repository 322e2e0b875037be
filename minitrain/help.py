"""`minitrain --help`: the config groups with their options and the composed config, in well under a second.

Hydra's own --help enumerates every group, its own included, and takes seconds; this one lists the
groups on the search path (minitrain's, and those of -cd and hydra.searchpath folders) and composes
the config once. `--hydra-help` still shows Hydra's flags.
"""

from __future__ import annotations

import sys

from hydra.core.object_type import ObjectType

from minitrain.hydra_adapter import args_parser, load_hydra

USAGE = """\
minitrain: train small image models from the command line (Hydra configs, a callback-driven Learner).

Usage:
  minitrain [KEY=VALUE ...]              train once; the run directory is outputs/DATE/TIME
  minitrain -m KEY=V1,V2 [KEY=V3,V4]     sweep every combination (Hydra multirun); writes sweep.csv and sweep.png
  minitrain resume=RUN_DIR [KEY=VALUE]   continue an interrupted run from its last checkpoint
  minitrain --cfg job [KEY=VALUE ...]    print the composed config and stop
  minitrain eval run=RUN_DIR             measure a checkpoint again: eval.json, confusion matrix, top losses
  minitrain predict run=RUN_DIR inputs=PATH   predict on image files: predictions.csv, predictions.png
  minitrain export run=RUN_DIR           the model as a torch.export program (model.pt2)
  minitrain summary [KEY=VALUE ...]      each layer's shapes, parameters and multiply-adds on one batch (out=DIR: summary.md)
  minitrain compare DIR [DIR ...]        runs or sweeps side by side: what differs, final and best metrics, curves
  minitrain -cd MYCONF model=MINE        use the configs in MYCONF too (your own models, optimizers, presets)
  minitrain hparams_search=cnn_optuna    an Optuna search (pip install "minitrain[scale]"): pruning, resume, optuna_*.png
  minitrain --version                    minitrain's version, and torch's and Hydra's
  minitrain --hydra-help                 Hydra's own flags: --info, -m, shell completion, ...

Examples:
  minitrain model=cnn dataset=fashion_mnist trainer.epochs=5
  minitrain -m optimizer.lr=0.001,0.01,0.1
  minitrain model=autoencoder dataset.path=~/data/fashion-mnist
"""


def config_groups(hydra, config_name: str, overrides: list[str]) -> dict[str, list[str]]:
    """Each group on the search path (Hydra's own and the schemas left out) with its options, the user's among them."""
    loader = hydra.config_loader
    groups = loader.get_group_options("", results_filter=ObjectType.GROUP, config_name=config_name, overrides=overrides)
    return {
        group: loader.get_group_options(group, config_name=config_name, overrides=overrides)
        for group in sorted(groups) if group not in ("hydra", "schema")
    }


def help_text(config_dir: str, argv: list[str]) -> str:
    """Usage, the groups with their options (* marks the one chosen), and the config the command line composes."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    args = args_parser().parse_args(argv)
    config_name = args.config_name or "config"
    hydra = load_hydra(config_dir, args)
    mode = RunMode.MULTIRUN if args.multirun else RunMode.RUN
    # a bad override raises Hydra's own error (see print_help); a sweep's overrides are left unapplied (-m)
    cfg = hydra.compose_config(config_name, args.overrides, run_mode=mode, from_shell=True)
    chosen = cfg.hydra.runtime.choices
    lines = [USAGE, "Config groups (GROUP=OPTION; * marks the one chosen):"]
    for group, options in config_groups(hydra, config_name, args.overrides).items():
        marked = [f"{o}*" if chosen.get(group) == o else o for o in options]
        lines.append(f"  {group + ':':<15} {', '.join(marked)}")
    job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    lines += ["", "Config (every key can be overridden; see the comments in configs/):", "", OmegaConf.to_yaml(job)]
    return "\n".join(lines)


def print_help(config_dir: str, argv: list[str]) -> None:
    """Print the help; a command line that does not compose gets one line saying why (as training would) and exit 2."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from minitrain.command_line import check_composes, hydra_message
    from minitrain.errors import fail

    try:
        print(help_text(config_dir, argv))
    except (HydraException, OmegaConfBaseException) as e:
        check_composes(argv)  # a misspelt key or option: "did you mean ...?"
        fail(hydra_message(e))
