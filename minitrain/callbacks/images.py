"""Pictures of the data and of what the model does with it: samples, predictions, reconstructions."""

from __future__ import annotations

import torch

from minitrain.data.pixels import input_stats, to_input
from minitrain.distributed import unwrap
from minitrain.events import Callback, Order
from minitrain.tasks import reconstructs
from minitrain.reports.figures import image_grid, reconstruction_grid, shown


class ImagesCallback(Callback):
    """samples.png before training; reconstructions/epoch_NNN.png after each epoch (reconstruction);
    predictions.png after training, also when it stopped early (classification). All use the first
    `n_images` of each split, so pictures from different epochs and runs show the same items."""

    order = Order.IMAGES

    def __init__(self, n_images: int = 36) -> None:
        self.n_images = n_images

    def before_fit(self, learn) -> None:
        data = learn.dls.data
        if learn.run_dir is None or data is None:
            self.data = None
            return
        self.data = data
        n = self.n_images
        titles = [data.classes[int(y)] for y in data.train.labels[:n]]
        image_grid(learn.run_dir / "samples.png", shown(data.train.images[:n]), titles, suptitle="Training samples")

    @torch.no_grad()
    def _predict_valid(self, learn) -> tuple[torch.Tensor, torch.Tensor]:
        """The first validation images in [0, 1], and the model's outputs for them (fed as the loaders feed it)."""
        images = self.data.valid.images[: self.n_images]
        target = "images" if reconstructs(learn) else "labels"
        model = unwrap(learn.model)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        out = model(to_input(images, input_stats(self.data.stats, target)).to(device)).float().cpu()
        model.train(was_training)
        return to_input(images), out

    def after_epoch(self, learn) -> None:
        if learn.training or self.data is None or not reconstructs(learn):
            return
        images, out = self._predict_valid(learn)
        epoch = learn.epoch + 1
        reconstruction_grid(
            learn.run_dir / "reconstructions" / f"epoch_{epoch:03d}.png",
            shown(images), shown(out), title=f"Epoch {epoch}: originals above reconstructions",
        )

    def cleanup_fit(self, learn) -> None:
        # cleanup, not after_fit: a fit ended by early stopping skips after_fit but deserves its predictions
        if learn.exception is not None or not learn.history or getattr(self, "data", None) is None \
                or reconstructs(learn):
            return
        images, out = self._predict_valid(learn)
        preds = out.argmax(dim=1)
        truth = self.data.valid.labels[: self.n_images]
        names = self.data.classes
        titles = [f"{names[int(p)]}\n(true: {names[int(t)]})" if p != t else names[int(p)] for p, t in zip(preds, truth)]
        wrong = [bool(p != t) for p, t in zip(preds, truth)]
        image_grid(
            learn.run_dir / "predictions.png", shown(images), titles, wrong,
            suptitle=f"Validation predictions: {len(wrong) - sum(wrong)}/{len(wrong)} right, wrong ones in red",
        )

