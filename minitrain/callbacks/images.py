"""Pictures of the data and of what the model does with it: samples, predictions, reconstructions."""

from __future__ import annotations

import torch

from minitrain.data.loaders import as_inputs
from minitrain.distributed import unwrap
from minitrain.learner import Callback, Order
from minitrain.tasks import reconstructs
from minitrain.reports.figures import image_grid, reconstruction_grid


class ImagesCallback(Callback):
    """samples.png before training; reconstructions/epoch_NNN.png after each epoch (reconstruction);
    predictions.png after training (classification). All use the first `n_images` of each split,
    so pictures from different epochs and runs show the same items."""

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
        image_grid(learn.run_dir / "samples.png", data.train.images[:n].numpy(), titles, suptitle="Training samples")

    @torch.no_grad()
    def _predict_valid(self, learn) -> tuple[torch.Tensor, torch.Tensor]:
        images = as_inputs(self.data.valid.images[: self.n_images])
        model = unwrap(learn.model)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        out = model(images.to(device)).float().cpu()
        model.train(was_training)
        return images, out

    def after_epoch(self, learn) -> None:
        if learn.training or self.data is None or not reconstructs(learn):
            return
        images, out = self._predict_valid(learn)
        epoch = learn.epoch + 1
        reconstruction_grid(
            learn.run_dir / "reconstructions" / f"epoch_{epoch:03d}.png",
            images[:, 0].numpy(), out[:, 0].numpy(), title=f"Epoch {epoch}: originals above reconstructions",
        )

    def after_fit(self, learn) -> None:
        if self.data is None or reconstructs(learn):
            return
        images, out = self._predict_valid(learn)
        preds = out.argmax(dim=1)
        truth = self.data.valid.labels[: self.n_images]
        names = self.data.classes
        titles = [f"{names[int(p)]}\n(true: {names[int(t)]})" if p != t else names[int(p)] for p, t in zip(preds, truth)]
        wrong = [bool(p != t) for p, t in zip(preds, truth)]
        image_grid(
            learn.run_dir / "predictions.png", images[:, 0].numpy(), titles, wrong,
            suptitle=f"Validation predictions: {len(wrong) - sum(wrong)}/{len(wrong)} right, wrong ones in red",
        )
