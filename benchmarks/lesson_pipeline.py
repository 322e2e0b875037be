"""The lesson's pipeline as a process of its own, so that its whole-process wall time can be set beside minitrain's.

What a course student runs: Fashion-MNIST as a `datasets` Dataset whose Image feature holds PNG bytes (what the hub
serves, here loaded from a copy saved with `save_to_disk`, as a warm hub cache would be), decoded one item at a time
by `with_transform`, PyTorch DataLoaders (batch 256 for training, 512 for validation), the lesson's stride-2 CNN
(1 -> 4 -> 8 -> 16 -> 16 -> 10), SGD at lr 0.4 with no schedule, validated after every epoch. `--trainer lightning`
trains the same model on the same loaders with a Lightning Trainer.

Prints one JSON line per epoch: {"epoch", "valid_accuracy", "time"} (time.time(), for the caller to subtract its own
start time from). Called by benchmarks/time_to_accuracy.py; run by hand:

    python benchmarks/lesson_pipeline.py --data DIR [--trainer lightning] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


def lesson_cnn() -> nn.Sequential:
    """The lesson's model: stride-2 3x3 convs with ReLU, the last without, flattened to 10 logits."""

    def conv(ni: int, nf: int, act: bool = True) -> nn.Module:
        layer = nn.Conv2d(ni, nf, kernel_size=3, stride=2, padding=1)
        return nn.Sequential(layer, nn.ReLU()) if act else layer

    return nn.Sequential(conv(1, 4), conv(4, 8), conv(8, 16), conv(16, 16), conv(16, 10, act=False), nn.Flatten())


def hub_style_dataset(images: np.ndarray, labels: list[int], classes: list[str]):
    """A `datasets` Dataset as the hub stores Fashion-MNIST: each image PNG-encoded in an Image feature."""
    import io

    import datasets
    from PIL import Image

    def png(image: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        return buf.getvalue()

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(classes))})
    return datasets.Dataset.from_dict({"image": [{"bytes": png(im), "path": None} for im in images], "label": labels},
                                      features=features)


def to_tensors(batch: dict) -> dict:
    """The lesson's transformi: PIL image -> float tensor in [0, 1], one item at a time."""
    batch["image"] = [torch.from_numpy(np.asarray(im, dtype=np.float32)).div(255).unsqueeze(0) for im in batch["image"]]
    return batch


def lesson_loaders(data_dir: str, batch_size: int, workers: int) -> tuple[DataLoader, DataLoader]:
    import datasets
    from torch.utils.data import default_collate

    splits = datasets.load_from_disk(data_dir)

    def collate(items):
        batch = default_collate(items)
        return batch["image"], batch["label"]

    def loader(split: str, size: int, shuffle: bool) -> DataLoader:
        return DataLoader(splits[split].with_transform(to_tensors), batch_size=size, shuffle=shuffle,
                          num_workers=workers, collate_fn=collate, persistent_workers=workers > 0)

    return loader("train", batch_size, True), loader("test", 2 * batch_size, False)


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    model.train()
    return correct / total


def report(epoch: int, valid_accuracy: float) -> None:
    print(json.dumps({"epoch": epoch, "valid_accuracy": valid_accuracy, "time": time.time()}), flush=True)


def train_plain(model: nn.Module, train: DataLoader, valid: DataLoader, epochs: int, lr: float) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        report(epoch, accuracy(model, valid))


def train_lightning(model: nn.Module, train: DataLoader, valid: DataLoader, epochs: int, lr: float) -> None:
    import lightning as L

    class Lit(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, _):
            x, y = batch
            return F.cross_entropy(self.model(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=lr)

    class Report(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            report(trainer.current_epoch + 1, accuracy(module.model, valid))

    L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False, callbacks=[Report()]).fit(Lit(), train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a DatasetDict (train, test) saved by save_to_disk")
    parser.add_argument("--trainer", choices=["plain", "lightning"], default="plain")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.4)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train, valid = lesson_loaders(args.data, args.batch_size, args.workers)
    fit = train_lightning if args.trainer == "lightning" else train_plain
    fit(lesson_cnn(), train, valid, args.epochs, args.lr)


if __name__ == "__main__":
    main()
