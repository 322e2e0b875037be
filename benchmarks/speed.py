"""Speed benchmark: minitrain against the lesson's pipeline, PyTorch Lightning and a plain tensor loop.

Same model (the lesson's stride-2 CNN), same data (Fashion-MNIST), same recipe (the lesson's: SGD lr 0.4,
no schedule), same batch size, seed and epochs for every pipeline, in one process, printed as one table of
images/s, seconds per epoch, final validation accuracy and the training seconds to reach --target accuracy:

    python benchmarks/speed.py                      # GPU if there is one (whole split), else CPU on a slice
    python benchmarks/speed.py --device cpu --train-images 60000 --epochs 5
    python benchmarks/speed.py --skip lightning     # without the optional Lightning row

Needs the benchmark extra for the Lightning row: pip install -e ".[bench]".
Images/s counts training images over the training passes only (validation runs after each pass, untimed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from minitrain.learner import Callback
from minitrain.models import CNN


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- data
def load_fashion_mnist(train_images: int, valid_images: int, cache_dir: str, path: str | None = None):
    """Real Fashion-MNIST through minitrain's own loader (`path`, else the system copy, else the hub), sliced."""
    from hydra import compose, initialize_config_dir

    from minitrain.cli import config_dir
    from minitrain.data import load_image_data

    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        where = [f"dataset.path={path}"] if path else []
        cfg = compose("config", overrides=[f"dataset.cache_dir={cache_dir}", *where])
    data = load_image_data(cfg.dataset)
    data.train.images, data.train.labels = data.train.images[:train_images], data.train.labels[:train_images]
    data.valid.images, data.valid.labels = data.valid.images[:valid_images], data.valid.labels[:valid_images]
    return data


def lesson_dataset(split, classes):
    """The lesson's data: a `datasets` Dataset whose Image feature holds PNG bytes, as the hub stores it,
    decoded one item at a time by `with_transform`."""
    from lesson_pipeline import hub_style_dataset, to_tensors  # benchmarks/, this script's folder

    return hub_style_dataset(split.images[:, 0].numpy(), split.labels.tolist(), classes).with_transform(to_tensors)


def lesson_loader(ds, batch_size: int, workers: int, shuffle: bool, device: torch.device):
    from torch.utils.data import DataLoader, default_collate

    def collate(items):
        batch = default_collate(items)
        return batch["image"], batch["label"]

    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate,
                      persistent_workers=workers > 0, pin_memory=device.type == "cuda")


# ---------------------------------------------------------------- pipelines
def evaluate(model, data, device: torch.device) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data.valid.labels), 1024):
            x = data.valid.images[start : start + 1024].to(device).float().div(255)  # stored N x 1 x 28 x 28
            correct += (model(x).argmax(1).cpu() == data.valid.labels[start : start + 1024]).sum().item()
    return correct / len(data.valid.labels)


def loop_over(batches: Callable, model, opt, device: torch.device, epochs: int, data) -> tuple[list, list]:
    """A plain training loop; the seconds each training pass took and the validation accuracy after it
    (validation is not timed)."""
    seconds, accuracies = [], []
    for _ in range(epochs):
        model.train()
        synchronize(device)
        start = time.perf_counter()
        for x, y in batches():
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
        accuracies.append(evaluate(model, data, device))
    return seconds, accuracies


def run_lesson(data, args, device, workers: int):
    torch.manual_seed(args.seed)
    model = CNN().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    loader = lesson_loader(lesson_dataset(data.train, data.classes), args.batch_size, workers, True, device)
    return loop_over(lambda: loader, model, opt, device, args.epochs, data)


def run_plain(data, args, device):
    """The whole split as one uint8 tensor on the device; randperm, slice and convert there."""
    torch.manual_seed(args.seed)
    model = CNN().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    images, labels = data.train.images.to(device), data.train.labels.to(device)

    def batches():
        for idx in torch.randperm(len(labels), device=device).split(args.batch_size):
            yield images[idx].float().div_(255), labels[idx]

    return loop_over(batches, model, opt, device, args.epochs, data)


def run_lightning(data, args, device, workers: int):
    import lightning as L

    class LitCNN(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = CNN()

        def training_step(self, batch, _):
            x, y = batch
            return F.cross_entropy(self.model(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=args.lr)

    class EpochTimer(L.Callback):  # times each training pass, then validates outside the timed part
        seconds: list = []
        accuracies: list = []

        def on_train_epoch_start(self, trainer, module):
            synchronize(device)
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            synchronize(device)
            self.seconds.append(time.perf_counter() - self.start)
            self.accuracies.append(evaluate(module.model, data, device))
            module.model.train()

    torch.manual_seed(args.seed)
    lit, timer = LitCNN(), EpochTimer()
    loader = lesson_loader(lesson_dataset(data.train, data.classes), args.batch_size, workers, True, device)
    trainer = L.Trainer(max_epochs=args.epochs, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[timer])
    trainer.fit(lit, loader)
    return timer.seconds, timer.accuracies


class PassTimer(Callback):
    """Records the wall time of each training pass (synchronised), leaving validation out."""

    order = 100
    seconds: list[float] = []

    def before_epoch(self, learn):
        if learn.training:
            synchronize(next(learn.model.parameters()).device)
            self.start = time.perf_counter()

    def after_epoch(self, learn):
        if learn.training:
            synchronize(next(learn.model.parameters()).device)
            PassTimer.seconds.append(time.perf_counter() - self.start)


def run_minitrain(data, args, device, overrides: list[str]):
    """minitrain's own Learner, data path and core callbacks, on the already-decoded data."""
    from hydra import compose, initialize_config_dir

    import minitrain.train as recipe
    from minitrain.cli import config_dir

    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        cfg = compose("config", overrides=[
            "model=cnn", "optimizer=sgd", f"optimizer.lr={args.lr}", "scheduler=none", f"seed={args.seed}",
            f"trainer.epochs={args.epochs}", f"loader.batch_size={args.batch_size}", f"device={device.type}",
            *overrides,
        ])
    cfg.callbacks = {"timer": {"_target_": "__main__.PassTimer"}}
    PassTimer.seconds = []
    original = recipe.load_image_data
    recipe.load_image_data = lambda _cfg, seed=0: data  # same images as every other row, no re-slicing
    try:
        learner = recipe.train(cfg, run_dir=None)
    finally:
        recipe.load_image_data = original
    return list(PassTimer.seconds), [row["valid_accuracy"] for row in learner.history]


# ---------------------------------------------------------------- side measurements
def data_preparation_seconds(path: str | None = None) -> tuple[float, float]:
    """First run (decode into an empty cache) and second run (load from it), as `minitrain` does them."""
    times = []
    with tempfile.TemporaryDirectory() as cache:
        for _ in range(2):
            start = time.perf_counter()
            load_fashion_mnist(10**9, 10**9, cache, path)
            times.append(time.perf_counter() - start)
    return times[0], times[1]


def help_seconds(repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "minitrain", "--help"], capture_output=True, check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


# ---------------------------------------------------------------- main
def time_to(target: float, seconds: list[float], accuracies: list[float]) -> float | None:
    """Training seconds until the first epoch whose validation accuracy reaches `target` (None: never)."""
    for epoch, accuracy in enumerate(accuracies):
        if accuracy >= target:
            return sum(seconds[: epoch + 1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--train-images", type=int, default=None, help="default: all on GPU, 10,000 on CPU")
    parser.add_argument("--valid-images", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.4, help="SGD, no schedule: the lesson's recipe")
    parser.add_argument("--target", type=float, default=0.8, help="validation accuracy for the time-to-accuracy column")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip", nargs="*", default=[],
                        help="rows to leave out: lesson0 lessonN lightning plain minitrain minitrain_other")
    parser.add_argument("--minitrain", nargs="*", default=[], help="extra overrides for the minitrain rows, e.g. trainer.precision=bf16")
    parser.add_argument("--data", default=None, help="a folder of Fashion-MNIST's IDX files (default: the system copy, else the hub)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    device = torch.device(args.device)
    train_images = args.train_images or (60_000 if device.type == "cuda" else 10_000)

    prep_first, prep_cached = data_preparation_seconds(args.data)
    data = load_fashion_mnist(train_images, args.valid_images, tempfile.mkdtemp(), args.data)
    default_path = "on the device" if device.type == "cuda" else "DataLoader"  # what loader.on_device=auto picks
    other_path, other_flag = ("DataLoader", "false") if device.type == "cuda" else ("on the device", "true")
    extra = " ".join(args.minitrain)
    runs = {
        "lesson0": ("lesson: HF with_transform + DataLoader, num_workers=0", lambda: run_lesson(data, args, device, 0)),
        "lessonN": (f"lesson: same, num_workers={args.workers}", lambda: run_lesson(data, args, device, args.workers)),
        "lightning": (f"Lightning Trainer over the {args.workers}-worker loaders", lambda: run_lightning(data, args, device, args.workers)),
        "plain": ("plain loop over one uint8 tensor on the device", lambda: run_plain(data, args, device)),
        "minitrain": (f"minitrain, defaults (batches {default_path}) {extra}".strip(),
                      lambda: run_minitrain(data, args, device, args.minitrain)),
        "minitrain_other": (f"minitrain, loader.on_device={other_flag} (batches {other_path}) {extra}".strip(),
                            lambda: run_minitrain(data, args, device, [f"loader.on_device={other_flag}", *args.minitrain])),
    }
    rows = {}
    for key, (label, run) in runs.items():
        if key in args.skip:
            continue
        seconds, accuracies = run()
        total = sum(seconds)
        rows[key] = {"pipeline": label, "images_per_s": train_images * args.epochs / total,
                     "epoch_seconds": total / args.epochs, "epoch_seconds_each": seconds,
                     "valid_accuracy_each": accuracies, "valid_accuracy": accuracies[-1],
                     "seconds_to_target": time_to(args.target, seconds, accuracies)}
        print(f"{label}: {rows[key]['images_per_s']:,.0f} images/s, epochs {', '.join(f'{t:.2f}' for t in seconds)} s, "
              f"valid accuracy {', '.join(f'{a:.4f}' for a in accuracies)}", flush=True)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    base = rows.get("minitrain", {}).get("images_per_s")
    print(f"\n{name}; torch {torch.__version__}; {train_images:,} training images, batch {args.batch_size}, "
          f"{args.epochs} epoch(s), SGD lr {args.lr}, seed {args.seed}\n")
    print(f"| pipeline | images/s | seconds/epoch | valid accuracy | seconds to {args.target:.0%} | minitrain is ×faster |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows.values():
        ratio = f"{base / row['images_per_s']:.1f}" if base else "-"
        reached = f"{row['seconds_to_target']:.2f}" if row["seconds_to_target"] is not None else "not reached"
        print(f"| {row['pipeline']} | {row['images_per_s']:,.0f} | {row['epoch_seconds']:.2f} | "
              f"{row['valid_accuracy']:.4f} | {reached} | {ratio} |")
    help_s = help_seconds()
    print(f"\nData preparation (whole dataset): first run {prep_first:.2f} s (decode + cache), "
          f"second run {prep_cached:.2f} s (from the cache)")
    print(f"`minitrain --help`: {help_s:.2f} s (median of 3)")
    if args.out:
        Path(args.out).write_text(json.dumps({"device": name, "args": vars(args), "rows": rows,
                                              "prep_first_s": prep_first, "prep_cached_s": prep_cached,
                                              "help_s": help_s}, indent=2))


if __name__ == "__main__":
    main()
