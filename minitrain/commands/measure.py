"""eval's numbers and files: run a checkpoint over a split, batch by batch as the run validated, and report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from minitrain.callbacks.images import shown
from minitrain.data.sources import Split
from minitrain.reports.figures import reconstruction_grid
from minitrain.reports.files import write_json
from minitrain.reports.interpret import confusion_matrix_figure, top_losses_figure
from minitrain.tasks import TASKS, build_loss


def outputs(loaded, split: Split) -> tuple[torch.Tensor, float]:
    """The model's outputs for every image of `split` (on the CPU) and the run's loss over them.

    Batches are the run's validation batches (same size, same order), so every number repeats the run's.
    """
    loader = loaded.config.loader
    batch_size = loader.valid_batch_size or 2 * loader.batch_size
    task = TASKS[loaded.task]
    loss_func = build_loss(task, loaded.config.trainer.get("label_smoothing", 0.0))
    outs, total = [], 0.0
    for start, x in zip(range(0, len(split.labels), batch_size), loaded.batches(split.images, batch_size)):
        out = loaded.forward(x)
        target = x.to(out.device) if task.target == "images" else split.labels[start : start + len(x)].to(out.device)
        total += float(loss_func(out, target)) * len(x)
        outs.append(out.cpu())
    return torch.cat(outs), total / max(1, len(split.labels))


def stats(values: torch.Tensor) -> dict[str, float]:
    v = values.double()
    return {"mean": float(v.mean()), "std": float(v.std()) if len(v) > 1 else 0.0, "min": float(v.min()),
            "median": float(v.median()), "max": float(v.max())}


def measure(loaded, split: Split, classes: list[str], prefix: str = "valid") -> dict[str, Any]:
    """eval.json's numbers for a classifier (accuracy, per class, confusion) or an autoencoder (MSE, PSNR).

    Named `<prefix>_loss`, `<prefix>_accuracy`...: with prefix valid, the columns of the run's metrics.csv.
    """
    out, loss = outputs(loaded, split)
    if loaded.task == "reconstruction":
        x = torch.cat(list(loaded.batches(split.images, 1024)))
        mse = (out - x).pow(2).flatten(1).mean(dim=1)
        psnr = -10 * torch.log10(mse.clamp_min(1e-10))
        return {"task": "reconstruction", "images": len(mse), f"{prefix}_loss": loss,
                f"{prefix}_psnr": float(psnr.sum()) / len(psnr),
                "per_image": {"mse": stats(mse), "psnr": stats(psnr)}, "_mse": mse, "_out": out}
    labels = split.labels.long()
    preds = out.argmax(dim=1)
    n = len(classes)
    matrix = torch.bincount(labels * n + preds, minlength=n * n).reshape(n, n)
    correct = int((preds == labels).sum())
    per_class = {c: (int(matrix[k, k]) / int(matrix[k].sum()) if matrix[k].sum() else None) for k, c in enumerate(classes)}
    return {"task": "classification", "images": len(labels), f"{prefix}_loss": loss,
            f"{prefix}_accuracy": correct / len(labels), "per_class_accuracy": per_class,
            "confusion_matrix": {"rows": "true class", "columns": "predicted class", "classes": list(classes),
                                 "counts": matrix.tolist()},
            "_out": out}


def most_wrong(out: torch.Tensor, labels: torch.Tensor, k: int) -> list[dict[str, Any]]:
    """The k wrongly classified images with the highest loss: confident and wrong first."""
    probs = out.softmax(dim=1)
    losses = F.cross_entropy(out, labels.long(), reduction="none")
    wrong = (out.argmax(dim=1) != labels).nonzero().flatten()
    order = wrong[losses[wrong].argsort(descending=True)][:k]
    return [{"index": int(i), "prediction": int(probs[i].argmax()), "true": int(labels[i]),
             "probability": float(probs[i].max()), "loss": float(losses[i])} for i in order]


def write_report(out: Path, report: dict[str, Any], loaded, split: Split, top: int) -> None:
    """eval.json and the figures into `out` (the report's private `_` entries are used here, not saved)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "top_losses.png").unlink(missing_ok=True)  # a figure from an earlier eval would mislead
    if report["task"] == "classification":
        classification_figures(out, report, split, top)
    else:
        order = report["_mse"].argsort(descending=True)[:top]
        report["top_losses"] = [{"index": int(i), "mse": float(report["_mse"][i])} for i in order]
        if len(order):
            x = torch.cat(list(loaded.batches(split.images[order], 1024)))
            reconstruction_grid(out / "top_losses.png", shown(x), shown(report["_out"][order]),
                                title="Worst reconstructions (highest MSE): originals above reconstructions")
    write_json(out / "eval.json", {k: v for k, v in report.items() if not k.startswith("_")})


def classification_figures(out: Path, report: dict[str, Any], split: Split, top: int) -> None:
    """confusion_matrix.png, and top_losses.png with the `top` most confidently wrong images (listed in the report)."""
    classes = report["confusion_matrix"]["classes"]
    worst = most_wrong(report["_out"], split.labels, top)
    report["top_losses"] = [{**w, "prediction": classes[w["prediction"]], "true": classes[w["true"]]} for w in worst]
    accuracy = report[f"{report['split']}_accuracy"]
    confusion_matrix_figure(out / "confusion_matrix.png", np.array(report["confusion_matrix"]["counts"]), classes,
                            title=f"{report['split']} split, epoch {report['epoch']}: accuracy {accuracy:.2%}")
    if worst:
        titles = [f"{w['prediction']} ({w['probability']:.2f})\ntrue: {w['true']}" for w in report["top_losses"]]
        top_losses_figure(out / "top_losses.png", shown(split.images[[w["index"] for w in worst]]), titles)


def print_report(report: dict[str, Any], out: Path) -> None:
    """A short table of the numbers, the run's own for comparison, and where the files are."""
    from rich.console import Console
    from rich.table import Table

    recorded = report.get("recorded", {})
    console = Console(highlight=False)
    console.print(f"{report['checkpoint']} (epoch {report['epoch']}) on the {report['split']} split "
                  f"({report['split_name']}, {report['images']} images of {report['data_source']})", soft_wrap=True)
    table = Table()
    table.add_column("metric")
    table.add_column("eval", justify="right")
    if recorded:
        table.add_column("recorded by the run", justify="right")
    for key in [k for k in report if k.startswith(f"{report['split']}_")]:
        table.add_row(key, f"{report[key]:.4f}", *([f"{recorded[key]:.4f}"] if key in recorded else [""] * bool(recorded)))
    console.print(table)
    if report["task"] == "classification":
        per_class = ", ".join(f"{c} {a:.0%}" if a is not None else f"{c} -" for c, a in report["per_class_accuracy"].items())
        console.print(f"Per class: {per_class}", soft_wrap=True)
    else:
        s = report["per_image"]["mse"]
        console.print(f"Per-image MSE: mean {s['mean']:.5f}, median {s['median']:.5f}, worst {s['max']:.5f}")
    files = ["eval.json", *(["confusion_matrix.png"] if report["task"] == "classification" else []),
             *(["top_losses.png"] if report["top_losses"] else [])]
    accuracy = report.get(f"{report['split']}_accuracy")
    none_wrong = "" if report["top_losses"] else (" (no image was classified wrongly: no top_losses.png)"
                                                  if accuracy == 1 else " (top_losses=0: no top_losses.png)")
    console.print(f"Wrote {', '.join(files)} to {out}{none_wrong}", soft_wrap=True)
