"""`minitrain summary [overrides]`: every layer of the configured model, run on one batch of the configured data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

HELP = """\
minitrain summary: the configured model's layers on one batch of the configured data (nothing is trained).

Usage:
  minitrain summary [KEY=VALUE ...] [out=DIR]

Every KEY=VALUE is a training override (model=resnet, loader.batch_size=32, experiment=fashion_fast, ...).
Prints each layer's type, input and output shapes, parameters and multiply-adds, totals at the bottom;
out=DIR also writes DIR/summary.md.
"""


@dataclass
class Options:
    overrides: list = field(default_factory=list)
    out: Optional[str] = None


@dataclass
class Row:
    """One layer's call: its name, type, shapes, own parameters and multiply-adds on the batch."""

    name: str
    kind: str
    inputs: tuple
    output: tuple
    params: int
    macs: int


def parse(argv: list[str]) -> Options:
    """`out=DIR` is the command's own; everything else is a Hydra override."""
    out = [a.split("=", 1)[1] for a in argv if a.startswith("out=")]
    return Options([a for a in argv if not a.startswith("out=")], out[-1] if out else None)


def multiply_adds(module, inputs: tuple, output) -> int:
    """Multiply-adds of a conv or linear layer's call (0 for any other layer)."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvNd):
        per_out = module.in_channels // module.groups * math.prod(module.kernel_size)
        if module.transposed:  # each input element meets out_channels / groups x kernel weights
            return inputs[0].numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
        return output.numel() * per_out
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def layer_rows(model, batch) -> list[Row]:
    """One Row per call of each leaf layer (or layer with parameters of its own), in the order they ran."""
    import torch

    rows: list[Row] = []
    shape = lambda t: tuple(t.shape) if isinstance(t, torch.Tensor) else ()  # noqa: E731

    def record(name):
        def hook(module, inputs, output):
            own = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(Row(name, type(module).__name__, tuple(shape(i) for i in inputs), shape(output), own,
                            multiply_adds(module, inputs, output)))
        return hook

    watched = [(n, m) for n, m in model.named_modules()
               if n and (not list(m.children()) or any(True for _ in m.parameters(recurse=False)))]
    handles = [m.register_forward_hook(record(n)) for n, m in watched]
    try:
        with torch.no_grad():
            model.eval()(batch)
    finally:
        for h in handles:
            h.remove()
    return rows


def _dims(shape: tuple) -> str:
    return "x".join(map(str, shape)) if shape else "-"


def table_lines(rows: list[Row], total_params: int) -> list[list[str]]:
    """The table's cells: a line per layer, then the totals."""
    lines = [[r.name, r.kind, ", ".join(_dims(s) for s in r.inputs), _dims(r.output), f"{r.params:,}",
              f"{r.macs:,}"] for r in rows]
    return lines + [["total", "", "", "", f"{total_params:,}", f"{sum(r.macs for r in rows):,}"]]


COLUMNS = ["layer", "type", "input", "output", "parameters", "multiply-adds"]


def write_markdown(path: Path, title: str, lines: list[list[str]]) -> None:
    """summary.md: the title, then the table in Markdown."""
    text = [f"# {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    text += ["| " + " | ".join(cells) + " |" for cells in lines]
    path.write_text("\n".join(text) + "\n")


def compose(overrides: list[str]):
    """The config a training run with these overrides would use."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from minitrain.config import config_dir
    from minitrain.errors import ConfigError

    try:
        with initialize_config_dir(config_dir=config_dir(), version_base=None):
            return hydra_compose("config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(f"minitrain summary: {str(e).splitlines()[0]}") from None


def run(opts: Options) -> None:
    """Build the data and model the overrides describe, run one training batch through it, print the table."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from minitrain.build import build_model
    from minitrain.checks import check_config
    from minitrain.data import build_loaders, load_image_data, shaped_config
    from minitrain.tasks import TASKS

    cfg = compose(list(opts.overrides))
    check_config(cfg)
    data = load_image_data(cfg.dataset, seed=cfg.seed)
    cfg = shaped_config(cfg, data)  # the model's shape from the data
    dls = build_loaders(data, cfg.loader, TASKS[str(cfg.model.task)].target, torch.device("cpu"), cfg.seed)
    batch = next(iter(dls.train))[0]
    model = build_model(cfg.model)
    rows = layer_rows(model, batch)
    lines = table_lines(rows, sum(p.numel() for p in model.parameters()))
    title = f"{type(model).__name__} on a batch of {_dims(tuple(batch.shape))} ({cfg.dataset.name})"
    table = Table(*COLUMNS, title=title)
    for cells in lines[:-1]:
        table.add_row(*cells)
    table.add_section()
    table.add_row(*lines[-1], style="bold")
    Console().print(table)
    if opts.out:
        out = Path(opts.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        write_markdown(out / "summary.md", title, lines)
        print(f"Wrote {out / 'summary.md'}")
