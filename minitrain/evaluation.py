"""What `minitrain eval` measures and writes: a checkpoint run over a split, batch by batch as the run validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from minitrain.atomic import write_json
from minitrain.data.loaders import valid_batch_size
from minitrain.data.sources import Split
from minitrain.errors import CheckpointError
from minitrain.metrics import per_image_mse, psnr
from minitrain.reports.figures import reconstruction_grid, shown
from minitrain.reports.interpret import confusion_matrix_figure, top_losses_figure
from minitrain.tasks import TASKS, build_loss


def outputs(loaded, split: Split) -> tuple[torch.Tensor, float]:
    """The model's outputs for every image of `split` (on the CPU) and the run's loss over them.

    Batches are the run's validation batches (same size, same order), so every number repeats the run's.
    """
    batch_size = run_batch_size(loaded)
    task = TASKS[loaded.task]
    loss_func = build_loss(task, loaded.config.trainer.get("label_smoothing", 0.0))
    outs, total = [], 0.0
    for start, x in zip(range(0, len(split.labels), batch_size), loaded.batches(split.images, batch_size)):
        out = loaded.forward(x)
        target = x.to(out.device) if task.target == "images" else split.labels[start : start + len(x)].to(out.device)
        total += float(loss_func(out, target)) * len(x)
        outs.append(out.cpu())
    return torch.cat(outs), total / max(1, len(split.labels))


def run_batch_size(loaded) -> int:
    """The run's validation batch size, from its checkpoint's config (checked: it is read from a file)."""
    loader = loaded.config.get("loader") or {}
    size = valid_batch_size(loader) if isinstance(loader.get("batch_size"), int) else None
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 1 << 16:
        raise CheckpointError(f"The checkpoint {loaded.checkpoint} is unusable: describe.config.loader gives no "
                              f"batch size of 1 to {1 << 16} ({size!r}).")
    return size


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
        mse = per_image_mse(out, x)
        db = psnr(mse)
        return {"task": "reconstruction", "images": len(mse), f"{prefix}_loss": loss,
                f"{prefix}_psnr": float(db.sum()) / len(db),
                "per_image": {"mse": stats(mse), "psnr": stats(db)}, "_mse": mse, "_out": out}
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


MATRIX_FIGURE_CLASSES = 50  # above this many classes confusion_matrix.png is left out: its cells would not show


def write_report(out: Path, report: dict[str, Any], loaded, split: Split, top: int) -> None:
    """eval.json first, then the figures, into `out` (the report's private `_` entries are used, not saved)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "top_losses.png").unlink(missing_ok=True)  # a figure from an earlier eval would mislead
    (out / "confusion_matrix.png").unlink(missing_ok=True)
    if report["task"] == "classification":
        classes = report["confusion_matrix"]["classes"]
        worst = most_wrong(report["_out"], split.labels, top)
        report["top_losses"] = [{**w, "prediction": classes[w["prediction"]], "true": classes[w["true"]]}
                                for w in worst]
        report["figures"] = (["confusion_matrix.png"] if len(classes) <= MATRIX_FIGURE_CLASSES else []) + \
            (["top_losses.png"] if worst else [])
    else:
        order = report["_mse"].argsort(descending=True)[:top]
        report["top_losses"] = [{"index": int(i), "mse": float(report["_mse"][i])} for i in order]
        report["figures"] = ["top_losses.png"] if len(order) else []
    write_json(out / "eval.json", {k: v for k, v in report.items() if not k.startswith("_")})
    if report["task"] == "classification":
        classification_figures(out, report, split)
    elif report["top_losses"]:
        order = torch.tensor([w["index"] for w in report["top_losses"]])
        x = torch.cat(list(loaded.batches(split.images[order], 1024)))
        reconstruction_grid(out / "top_losses.png", shown(x), shown(report["_out"][order]),
                            title="Worst reconstructions (highest MSE): originals above reconstructions")


def classification_figures(out: Path, report: dict[str, Any], split: Split) -> None:
    """confusion_matrix.png (up to MATRIX_FIGURE_CLASSES classes), and top_losses.png with the report's most
    confidently wrong images."""
    classes = report["confusion_matrix"]["classes"]
    if "confusion_matrix.png" in report["figures"]:
        accuracy = report[f"{report['split']}_accuracy"]
        confusion_matrix_figure(out / "confusion_matrix.png", np.array(report["confusion_matrix"]["counts"]), classes,
                                title=f"{report['split']} split, epoch {report['epoch']}: accuracy {accuracy:.2%}")
    worst = report["top_losses"]
    if worst:
        titles = [f"{w['prediction']} ({w['probability']:.2f})\ntrue: {w['true']}" for w in worst]
        top_losses_figure(out / "top_losses.png", shown(split.images[[w["index"] for w in worst]]), titles)


def print_report(report: dict[str, Any], out: Path) -> None:
    """A short table of the numbers, the run's own for comparison, and where the files are."""
    from rich.console import Console
    from rich.table import Table

    recorded = report.get("recorded", {})
    console = Console(highlight=False)
    console.print(f"{report['checkpoint']} (epoch {report['epoch']}) on the {report['split']} split of "
                  f"{report['dataset']}: {report['split_described']}, {report['images']} images of "
                  f"{report['data_source']}", soft_wrap=True)
    subset = report.get("recorded_on")
    if subset:
        console.print(f"Note: {subset['why']}; its recorded numbers are of that subset, eval's of every image.",
                      soft_wrap=True)
    table = Table()
    table.add_column("metric")
    table.add_column("eval", justify="right")
    if recorded:
        table.add_column("recorded by the run" + (f" ({subset['images']} images)" if subset and subset["images"] else
                                                  " (on other images)" if subset else ""), justify="right")
    for key in [k for k in report if k.startswith(f"{report['split']}_")]:
        table.add_row(key, f"{report[key]:.4f}", *([f"{recorded[key]:.4f}"] if key in recorded else [""] * bool(recorded)))
    console.print(table)
    if report["task"] == "classification":
        per_class = ", ".join(f"{c} {a:.0%}" if a is not None else f"{c} -" for c, a in report["per_class_accuracy"].items())
        console.print(f"Per class: {per_class}", soft_wrap=True)
    else:
        s = report["per_image"]["mse"]
        console.print(f"Per-image MSE: mean {s['mean']:.5f}, median {s['median']:.5f}, worst {s['max']:.5f}")
    files = ["eval.json", *report["figures"]]
    accuracy = report.get(f"{report['split']}_accuracy")
    none_wrong = "" if report["top_losses"] else (" (no image was classified wrongly: no top_losses.png)"
                                                  if accuracy == 1 else " (top_losses=0: no top_losses.png)")
    classes = len(report.get("confusion_matrix", {}).get("classes", []))
    no_matrix = (f" (confusion_matrix.png left out: {classes} classes are more than its "
                 f"{MATRIX_FIGURE_CLASSES} cells a side can show; eval.json has the counts)"
                 if classes > MATRIX_FIGURE_CLASSES else "")
    console.print(f"Wrote {', '.join(files)} to {out}{none_wrong}{no_matrix}", soft_wrap=True)
