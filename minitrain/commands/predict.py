"""`minitrain predict run=DIR inputs=PATH`: a trained run's predictions for image files, a folder or a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from omegaconf import MISSING

from minitrain.errors import RunError

HELP = """\
minitrain predict: predict with a trained run on new images.

Usage:
  minitrain predict run=DIR inputs=PATH [KEY=VALUE ...]

Options:
  run=DIR            the run directory (outputs/DATE/TIME)
                     or one of its checkpoint files: run=DIR/checkpoints/last.pt
  inputs=PATH        an image file, a folder of images (PNG, JPG, BMP, WebP; any size, grey or colour; searched
                     recursively), or a dataset folder minitrain reads (its validation split is used)
  checkpoint=best    best | last | the path of a .pt checkpoint
  device=auto        auto | cpu | cuda | mps
  out=null           where to write; null: DIR/predict
  top=3              how many of the likeliest classes predictions.csv lists per image
  n_images=36        how many images predictions.png shows
  trust=false        build a model class from outside minitrain that the checkpoint names (imports its module:
                     only for runs whose source you trust)

Images are converted as the training data was: to grey (or colour) and squeezed to the trained size.
Writes predictions.csv (file,prediction,probability, then the next likeliest classes) and predictions.png;
for an autoencoder, predictions.csv (file,mse,psnr) and reconstructions.png.

Example:
  minitrain predict run=outputs/2026-01-31/12-00-00 inputs=photos/
"""


@dataclass
class Options:
    run: str = MISSING
    inputs: str = MISSING
    checkpoint: Optional[str] = None  # best, or the checkpoint file run= names
    device: str = "auto"
    out: Optional[str] = None
    top: int = 3
    n_images: int = 36
    trust: bool = False


def run(opts: Options) -> None:
    """Predict, write predictions.csv and a picture, and print the first rows."""
    from minitrain.inference import load_run
    from minitrain.rundir import find_run, report_dir

    if opts.top < 1 or opts.n_images < 1:
        raise RunError(f"top={opts.top}, n_images={opts.n_images}: both must be at least 1.")
    inputs = Path(opts.inputs).expanduser()
    if not inputs.exists():
        raise RunError(f"inputs={inputs} does not exist. Give an image file, a folder of images or a dataset folder.")
    loaded = load_run(opts.run, opts.checkpoint, opts.device, trust=opts.trust)
    names, stored = read_inputs(inputs, loaded)
    out = Path(opts.out).expanduser() if opts.out else report_dir(find_run(opts.run), "predict")
    if loaded.task == "classification":
        rows = classify(loaded, names, stored, out, opts)
        columns = ["file", "prediction", "probability"]
    else:
        rows = reconstruct(loaded, names, stored, out, opts)
        columns = ["file", "mse", "psnr"]
    print_rows(rows, columns, out)


def image_files(folder: Path) -> list[Path]:
    from minitrain.data.sources import IMAGE_SUFFIXES

    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_inputs(inputs: Path, loaded):
    """(names, stored-format uint8 images) for an image file, a folder of images or a dataset folder."""
    import torch

    from minitrain.inference import open_image

    if inputs.is_file():
        files = [inputs]
    else:
        files = image_files(inputs)
        if not files:
            return dataset_inputs(inputs, loaded)
    # each photo is shrunk to the trained size as soon as it is decoded: only one full-size image is held at a time
    images = torch.cat([loaded.to_stored(open_image(f)) for f in files])
    base = inputs.parent if inputs.is_file() else inputs
    return [str(f.relative_to(base)) for f in files], images


def dataset_inputs(folder: Path, loaded):
    """The validation split of a dataset folder, each image named `<split>/<index>`."""
    from minitrain.data import choose_splits, hold_out
    from minitrain.data.sources import local_source
    from minitrain.errors import DataError

    try:
        source = local_source(folder, "inputs=")
    except DataError:
        raise RunError(f"inputs={folder} holds no images (PNG, JPG, BMP, WebP) and is not a dataset minitrain reads "
                       "(IDX, parquet or save_to_disk files).") from None
    dataset = loaded.config.dataset
    train, split = choose_splits(dataset, source)
    if split is None:  # the run validated on a share held out of its training split: the same images
        split = train
        images = hold_out(source.decode([train]).splits[train], dataset.valid_pct, loaded.seed, str(source))[1].images
    else:
        images = source.decode([split]).splits[split].images
    stored = loaded.info["input"]["stored_shape"]
    if list(images.shape[1:]) != stored:
        images = loaded.to_stored(images.numpy())
    return [f"{split}/{i}" for i in range(len(images))], images


def classify(loaded, names: list[str], stored, out: Path, opts: Options) -> list[dict]:
    """predictions.csv with the `top` likeliest classes, predictions.png with the first `n_images`."""
    import torch

    from minitrain.atomic import write_csv
    from minitrain.reports.figures import image_grid, shown

    probs = torch.cat([loaded.forward(x).softmax(dim=1).cpu() for x in loaded.batches(stored, 256)])
    top = torch.topk(probs, k=min(max(1, opts.top), probs.shape[1]), dim=1)
    rows = []
    for name, p, k in zip(names, top.values.tolist(), top.indices.tolist()):
        row = {"file": name, "prediction": loaded.classes[k[0]], "probability": f"{p[0]:.4f}"}
        for rank in range(1, len(k)):
            row[f"top{rank + 1}"], row[f"probability{rank + 1}"] = loaded.classes[k[rank]], f"{p[rank]:.4f}"
        rows.append(row)
    columns = list(rows[0]) if rows else ["file", "prediction", "probability"]
    write_csv(out / "predictions.csv", rows, columns)
    shown_rows = rows[: opts.n_images]
    image_grid(out / "predictions.png", shown(stored[: len(shown_rows)]),
               [f"{r['prediction']} ({float(r['probability']):.2f})\n{Path(r['file']).name[:18]}" for r in shown_rows],
               cols=min(6, max(1, len(shown_rows))))  # titles say it all: prediction (probability), file
    return rows


def reconstruct(loaded, names: list[str], stored, out: Path, opts: Options) -> list[dict]:
    """predictions.csv with each image's MSE and PSNR, reconstructions.png with the first `n_images`."""
    import torch

    from minitrain.atomic import write_csv
    from minitrain.metrics import per_image_mse, psnr
    from minitrain.reports.figures import reconstruction_grid, shown

    x = torch.cat(list(loaded.batches(stored, 256)))
    recon = torch.cat([loaded.forward(b).cpu() for b in x.split(256)])
    mse = per_image_mse(recon, x)
    rows = [{"file": n, "mse": f"{float(m):.6f}", "psnr": f"{float(p):.2f}"} for n, m, p in zip(names, mse, psnr(mse))]
    write_csv(out / "predictions.csv", rows, ["file", "mse", "psnr"])
    n = opts.n_images
    reconstruction_grid(out / "reconstructions.png", shown(x[:n]), shown(recon[:n]),
                        title="Originals above their reconstructions")
    return rows


def print_rows(rows: list[dict], columns: list[str], out: Path, first: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for c in columns:
        table.add_column(c, justify="left" if c in ("file", "prediction") else "right")
    for row in rows[:first]:
        table.add_row(*(str(row[c]) for c in columns))
    console = Console(highlight=False)
    console.print(table)
    more = f" ({len(rows) - first} more rows)" if len(rows) > first else ""
    picture = "predictions.png" if "prediction" in columns else "reconstructions.png"
    console.print(f"Wrote predictions.csv{more} and {picture} to {out}", soft_wrap=True)
