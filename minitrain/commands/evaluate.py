"""`minitrain eval run=DIR`: measure a checkpoint again on a split and explain it: eval.json and two figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from omegaconf import MISSING

from minitrain.errors import RunError

HELP = """\
minitrain eval: measure a run's checkpoint again on a data split, and show where it goes wrong.

Usage:
  minitrain eval run=DIR [KEY=VALUE ...]

Options:
  run=DIR               the run directory (outputs/DATE/TIME)
                        or one of its checkpoint files: run=DIR/checkpoints/last.pt
  checkpoint=best       best | last | the path of a .pt checkpoint
  split=valid           valid (the split the run validated on) | train
  device=auto           auto | cpu | cuda | mps
  dataset.path=null     another copy of the data (IDX, parquet, save_to_disk or image folder); null: the run's own.
                        Its labels are matched to the run's classes by name; a copy whose names differ is refused
  out=null              where to write; null: DIR/eval (split=train: DIR/eval_train)
  top_losses=16         how many of the most confidently wrong images top_losses.png shows
  trust=false           build a model class from outside minitrain that the checkpoint names (imports its
                        module: only for runs whose source you trust)

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
    checkpoint: Optional[str] = None  # best, or the checkpoint file run= names
    split: str = "valid"
    device: str = "auto"
    dataset: DatasetOptions = field(default_factory=DatasetOptions)
    out: Optional[str] = None
    top_losses: int = 16
    trust: bool = False


def run(opts: Options) -> None:
    """Evaluate, write the report files, print a summary and the report folder."""
    if opts.split not in ("valid", "train"):
        raise RunError(f"split={opts.split}: give split=valid (the split the run validated on) or split=train.")
    if opts.top_losses < 0:
        raise RunError(f"top_losses={opts.top_losses}: give how many images top_losses.png shows, 0 or more.")
    from minitrain.data import load_image_data
    from minitrain.evaluation import measure, print_report, write_report
    from minitrain.inference import load_run
    from minitrain.rundir import find_run, report_dir

    loaded = load_run(opts.run, opts.checkpoint, opts.device, trust=opts.trust)
    dataset = loaded.config.dataset
    if opts.dataset.path:
        dataset.path = str(Path(opts.dataset.path).expanduser().resolve())
    data = load_image_data(dataset, seed=loaded.seed)  # the run's seed holds out the same validation images
    split = data.valid if opts.split == "valid" else data.train
    if opts.dataset.path:
        split = in_run_classes(split, data.classes, loaded.classes, opts.dataset.path)
    report = measure(loaded, split, loaded.classes, prefix=opts.split)  # the names the model learned
    report.update(checkpoint=str(loaded.checkpoint), epoch=loaded.epoch, split=opts.split, dataset=data.name,
                  split_name=data.valid_split if opts.split == "valid" else data.train_split,
                  split_described=data.describe_validation() if opts.split == "valid" else data.describe_training(),
                  data_source=data.source)
    if opts.split == "valid":
        report["validation"] = data.validation
    if opts.split == "valid" and not opts.dataset.path:
        report["recorded"] = {k: v for k, v in loaded.recorded.items() if k.startswith("valid_")}
        if subset := validated_subset(loaded, len(split.labels)):
            report["recorded_on"] = subset
    out = Path(opts.out).expanduser() if opts.out else report_dir(find_run(opts.run), REPORT_DIRS[opts.split])
    write_report(out, report, loaded, split, opts.top_losses)
    print_report(report, out)


REPORT_DIRS = {"valid": "eval", "train": "eval_train"}  # RUN/eval/ and RUN/eval_train/: one split's report each


def validated_subset(loaded, images: int) -> dict | None:
    """What part of the validation split the run's recorded numbers are of, when not all of it: its first
    `trainer.limit_batches` batches (debug=fast), or its training batches (`trainer.overfit_batches`)."""
    from minitrain.evaluation import run_batch_size

    trainer = loaded.config.get("trainer") or {}
    overfit, limit = trainer.get("overfit_batches"), trainer.get("limit_batches")
    if isinstance(overfit, int) and not isinstance(overfit, bool) and overfit > 0:
        return {"images": None, "of": images, "why": f"trainer.overfit_batches={overfit}: the run validated on "
                f"its first {overfit} training batch(es), not on this split"}
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 and limit * run_batch_size(loaded) < images:
        seen = limit * run_batch_size(loaded)
        return {"images": seen, "of": images, "why": f"trainer.limit_batches={limit}: the run validated on its "
                f"first {limit} batch(es) only, {seen} of the {images} images"}
    return None


def in_run_classes(split, data_classes: list[str], run_classes: list[str], path: str):
    """`split` with its labels renumbered to the run's class order, matched by name: another copy of the data
    may number its classes otherwise (an image folder sorts them alphabetically). Refused when the copy names
    other classes, or none (numbers alone could mean anything)."""
    import torch

    from minitrain.data.sources import Split

    if data_classes == run_classes:
        return split
    numbered = [str(i) for i in range(len(data_classes))]
    if data_classes == numbered:
        raise RunError(f"dataset.path={path} does not name its classes, so its labels cannot be matched to the "
                       f"run's ({', '.join(run_classes[:5])}{' ...' if len(run_classes) > 5 else ''}). Give a copy "
                       "that names them (folder names, a ClassLabel feature, or the dataset's known names).")
    missing = [c for c in data_classes if c not in run_classes]
    if missing:
        raise RunError(f"dataset.path={path} has classes the run never learned ({', '.join(missing[:5])}"
                       f"{' ...' if len(missing) > 5 else ''}); the run knows {', '.join(run_classes[:10])}"
                       f"{' ...' if len(run_classes) > 10 else ''}. Evaluate on a copy of the data it trained on.")
    mapping = torch.tensor([run_classes.index(c) for c in data_classes])
    return Split(split.images, mapping[split.labels.long()])
