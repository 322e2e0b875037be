"""`minitrain --help`: the config groups with their options and the composed config, in well under a second.

Hydra's own --help enumerates every group, its own included, and takes seconds; this one reads
the config tree's folders and composes the config once. `--hydra-help` still shows Hydra's flags.
"""

from __future__ import annotations

from pathlib import Path

import yaml

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
  minitrain --hydra-help                 Hydra's own flags: --info, -m, shell completion, ...

Examples:
  minitrain model=cnn dataset=fashion_mnist trainer.epochs=5
  minitrain -m optimizer.lr=0.001,0.01,0.1
  minitrain model=autoencoder dataset.path=~/data/fashion-mnist
"""


def default_choices(config_dir: Path) -> dict[str, str]:
    """The option config.yaml's defaults list picks in each group."""
    defaults = yaml.safe_load((config_dir / "config.yaml").read_text()).get("defaults", [])
    return {k: str(v) for entry in defaults if isinstance(entry, dict) for k, v in entry.items() if "/" not in k and " " not in k}


def config_groups(config_dir: Path) -> dict[str, list[str]]:
    """Each group folder (Hydra's own left out) with its options."""
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(config_dir.iterdir())
        if d.is_dir() and d.name != "hydra"
    }


def help_text(config_dir: Path, overrides: list[str]) -> str:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    chosen = default_choices(config_dir)
    lines = [USAGE, "Config groups (GROUP=OPTION; * marks the default):"]
    for group, options in config_groups(config_dir).items():
        marked = [f"{o}*" if chosen.get(group) == o else o for o in options]
        lines.append(f"  {group + ':':<11} {', '.join(marked)}")
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        cfg = compose("config", overrides=overrides)  # a bad override raises Hydra's own error (see cli.main)
    lines += ["", "Config (every key can be overridden; see the comments in configs/):", "", OmegaConf.to_yaml(cfg)]
    return "\n".join(lines)
