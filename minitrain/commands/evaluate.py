"""`minitrain eval run=DIR`: measure a checkpoint again on a split and explain it: eval.json and two figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from omegaconf import MISSING

from minitrain.runs import RunError

HELP = """\
minitrain eval: measure a run's checkpoint again on a data split, and show where it goes wrong.

Usage:
  minitrain eval run=DIR [KEY=VALUE ...]

Options:
  run=DIR               the run directory (outputs/DATE/TIME)
  checkpoint=best       best | last | the path of a .pt checkpoint
  split=valid           valid (the split the run validated on) | train
  device=auto           auto | cpu | cuda | mps
  dataset.path=null     another copy of the data (IDX, parquet or save_to_disk folder); null: the run's own
  out=null              where to write; null: DIR/eval
  top_losses=16         how many of the most confidently wrong images top_losses.png shows

Writes eval.json (loss, accuracy, per-class accuracy, confusion matrix; for autoencoders MSE and PSNR
with per-image statistics), confusion_matrix.png and top_losses.png.

Example:
  minitrain eval run=outputs/2026-01-31/12-00-00 checkpoint=last
"""


@dataclass
class DatasetOptions:
    path: Optional[str] = None


@dataclass
class Options:
    run: str = MISSING
    checkpoint: str = "best"
    split: str = "valid"
    device: str = "auto"
    dataset: DatasetOptions = field(default_factory=DatasetOptions)
    out: Optional[str] = None
    top_losses: int = 16


def run(opts: Options) -> None:
    """Evaluate, write the report files, print a summary and the report folder."""
    if opts.split not in ("valid", "train"):
        raise RunError(f"split={opts.split}: give split=valid (the split the run validated on) or split=train.")
    if opts.top_losses < 0:
        raise RunError(f"top_losses={opts.top_losses}: give how many images top_losses.png shows, 0 or more.")
    from minitrain.api import load_run
    from minitrain.commands.measure import measure, print_report, write_report
    from minitrain.data import load_image_data

    loaded = load_run(opts.run, opts.checkpoint, opts.device)
    dataset = loaded.config.dataset
    if opts.dataset.path:
        dataset.path = str(Path(opts.dataset.path).expanduser().resolve())
    data = load_image_data(dataset)
    split = data.valid if opts.split == "valid" else data.train
    split_name = dataset.valid_split if opts.split == "valid" else dataset.train_split
    report = measure(loaded, split, loaded.classes, prefix=opts.split)  # the names the model learned
    report.update(checkpoint=str(loaded.checkpoint), epoch=loaded.epoch, split=opts.split, split_name=split_name,
                  data_source=data.source)
    if opts.split == "valid" and not opts.dataset.path:
        report["recorded"] = {k: v for k, v in loaded.recorded.items() if k.startswith("valid_")}
    out = Path(opts.out).expanduser() if opts.out else find_out(opts.run)
    write_report(out, report, loaded, split, opts.top_losses)
    print_report(report, out)


def find_out(run: str) -> Path:
    from minitrain.runs import find_run

    return find_run(run) / "eval"
