"""`load_run`: a trained run as a Python object that predicts on images, from its checkpoint alone.

The checkpoint is read as untrusted data (minitrain.checkpoint), and a batch goes through the model by the
same code as the run's validation pass (minitrain.forward): eval and predict measure what validation measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from minitrain import checkpoint, forward
from minitrain.checkpoint import read_described
from minitrain.data.decode import to_mode
from minitrain.data.loaders import BatchDataset
from minitrain.data.pixels import Stats
from minitrain.data.sources import Split
from minitrain.device import resolve_device
from minitrain.errors import CheckpointError, ConfigError, RunError
from minitrain.rundir import checkpoint_choice, checkpoint_file, find_run


MAX_DRAFT_SIDE = 1024  # a JPEG is decoded at the smallest scale that still has this many pixels a side


class Run:
    """A checkpoint made usable: `.model` (eval mode, on `.device`), `.classes`, `.config`, `.predict(images)`."""

    def __init__(self, state: dict[str, Any], device: torch.device, source: Path, trust: bool = False) -> None:
        info = state["describe"]
        self.checkpoint, self.device, self.info = source, device, info
        self.config: DictConfig = OmegaConf.create(info["config"])
        self.classes: list[str] = list(info["classes"])
        self.task: str = info["task"]
        self.epoch: int = int(state["epoch"])  # epochs trained when the checkpoint was written
        self.history: list[dict] = list(state.get("history", []))
        self.model = checkpoint.build_model(info, source, trust)
        if mismatch := checkpoint.state_dict_mismatch(self.model.state_dict(), state["model"]):
            raise CheckpointError(f"The checkpoint {source} does not fit the model its config describes ({mismatch}).")
        self.model.load_state_dict(state["model"])
        trainer = self.config.get("trainer") or {}
        self.channels_last = bool(trainer.get("channels_last", False))
        self.tta_flip = bool(trainer.get("tta_flip", False))
        try:
            self.autocast = forward.autocast_dtype(str(trainer.get("precision", "fp32")), device)
        except ValueError:
            raise CheckpointError(f"The checkpoint {source} is unusable: describe.config.trainer.precision is "
                                  f"{trainer.get('precision')!r}, not auto, fp32, bf16 or fp16.") from None
        normalize = info["input"].get("normalize")
        self.stats = Stats(torch.tensor(normalize["mean"]), torch.tensor(normalize["std"])) if normalize else None
        self.model.to(device).eval()
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)

    @property
    def seed(self) -> int:
        """The run's seed (it drew any validation share held out of the training split), checked: read from a file."""
        seed = self.config.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
            raise CheckpointError(f"The checkpoint {self.checkpoint} is unusable: describe.config.seed is {seed!r}, "
                                  "not a whole number from 0 to 2**64 - 1.")
        return seed

    @property
    def recorded(self) -> dict[str, Any]:
        """The metrics the run recorded for the checkpoint's epoch (its history row)."""
        return next((row for row in self.history if row.get("epoch") == self.epoch), {})

    def batches(self, images: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
        """Stored-format uint8 images, converted exactly as training converted them, `batch_size` at a time."""
        dataset = BatchDataset(Split(images, torch.zeros(len(images), dtype=torch.long)), "labels", self.stats)
        for start in range(0, len(images), batch_size):
            yield dataset[list(range(start, min(start + batch_size, len(images))))][0]

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output for a float batch, computed by the run's validation pass's own steps."""
        x = forward.to_device(x, self.device, self.channels_last)
        with forward.autocast(self.device, self.autocast):
            out = self.model(x)
            if self.tta_flip:  # the run validated on the mean over each image and its mirror image
                out = forward.flip_tta(self.model, x, out, self.task == "reconstruction")
        return out.float()

    def to_stored(self, images) -> torch.Tensor:
        """PIL images, uint8 arrays or tensors (one or a batch, any size, grey or colour) in the stored format."""
        return torch.from_numpy(np.stack([to_stored_array(im, self.info["input"]) for im in as_list(images, self.info)]))

    @torch.no_grad()
    def predict(self, images, batch_size: int = 256) -> torch.Tensor:
        """Class probabilities (N x classes) for a classifier; reconstructions (N x C x H x W in [0, 1]) otherwise."""
        stored = self.to_stored(images)
        outs = [self.forward(x).cpu() for x in self.batches(stored, batch_size)]
        out = torch.cat(outs) if outs else torch.empty(0)
        return out.softmax(dim=1) if self.task == "classification" else out


def load_run(run_dir: str | Path, checkpoint: str | None = None, device: str = "auto", trust: bool = False) -> Run:
    """The run in `run_dir` with the weights of `checkpoint` (best, last or a .pt path; None: best, or the checkpoint
    file `run_dir` names, as in `load_run("outputs/.../checkpoints/last.pt")`), on `device`.

    The checkpoint is data: its model is built only from minitrain's own classes, unless `trust` lets it import
    the user's own model class its config names (only for runs whose source you trust)."""
    folder = find_run(run_dir)
    path = checkpoint_file(folder, checkpoint_choice(run_dir, checkpoint))
    state = read_described(path)
    try:
        where = resolve_device(str(device))
    except ConfigError as e:
        raise RunError(str(e)) from None
    return Run(state, where, path, trust)


def as_list(images, info: dict[str, Any]) -> list:
    """One image or a batch of them as a list of single images.

    An array of 2 dimensions is one grey image, of 4 a batch; of 3 it is a batch of grey images when the run
    trained on grey ones (and the last dimension is no colour channel), otherwise one colour image.
    """
    if isinstance(images, Image.Image):
        return [images]
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    if not isinstance(images, np.ndarray):
        return list(images)
    grey_batch = images.ndim == 3 and info["input"]["channels"] == 1 and images.shape[-1] not in (3, 4)
    return list(images) if images.ndim == 4 or grey_batch else [images]


def to_stored_array(image, input_info: dict[str, Any]) -> np.ndarray:
    """One image (PIL, or a uint8 array H x W, H x W x C or C x H x W) resized and converted like the training data."""
    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise RunError(f"predict takes uint8 pixels (0..255); got an array of {array.dtype}. "
                           "Convert with (x * 255).round().astype('uint8') if yours are in [0, 1].")
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = array.transpose(1, 2, 0)  # C x H x W -> H x W x C, the layout PIL reads
        image = Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array)
    channels, height, width = input_info["channels"], input_info["height"], input_info["width"]
    image = to_mode(image, "L" if channels == 1 else "RGB")
    if image.size != (width, height):
        # Squeezed to the size trained on: shrinking averages the pixels each new one covers, enlarging interpolates.
        image = image.resize((width, height), Image.Resampling.BOX if image.width >= width else Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    if len(input_info["stored_shape"]) == 3:  # the splits store channels first: C x H x W
        array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


def open_image(path: Path) -> Image.Image:
    """An image file, decoded; a RunError naming the file if it is not an image PIL can read."""
    try:
        with Image.open(path) as image:
            image.draft(None, (MAX_DRAFT_SIDE, MAX_DRAFT_SIDE))  # a JPEG decodes at a reduced scale: less memory
            image.load()
            return image
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise RunError(f"{path} is not an image minitrain can read (PNG, JPG, BMP or WebP): {e}") from None
