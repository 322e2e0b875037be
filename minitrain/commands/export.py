"""`minitrain export run=DIR`: the model as a `torch.export` program (model.pt2) that runs without minitrain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from omegaconf import MISSING

HELP = """\
minitrain export: save a run's model as a torch.export program that loads without minitrain.

Usage:
  minitrain export run=DIR [KEY=VALUE ...]

Options:
  run=DIR            the run directory (outputs/DATE/TIME)
  checkpoint=best    best | last | the path of a .pt checkpoint
  out=null           where to write; null: DIR/export

Writes model.pt2 and model.json (class names, input shape, preprocessing). Load it with plain torch:
  program = torch.export.load("model.pt2"); logits = program.module()(images)
where images are float32, N x C x H x W, pixel values / 255.
"""


@dataclass
class Options:
    run: str = MISSING
    checkpoint: str = "best"
    out: Optional[str] = None


def run(opts: Options) -> None:
    """Export the model with a free batch size; write model.pt2 and model.json; print where."""
    import torch

    from minitrain.api import load_run
    from minitrain.runs import RunError, find_run

    loaded = load_run(opts.run, opts.checkpoint, "cpu")
    shape = loaded.info["input"]
    example = torch.rand(2, shape["channels"], shape["height"], shape["width"])
    try:
        program = torch.export.export(loaded.model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as e:  # an operation torch.export cannot trace (a user's model)
        raise RunError(f"torch.export could not trace this model ({type(e).__name__}: {str(e).splitlines()[0]}).") from None
    out = Path(opts.out).expanduser() if opts.out else find_run(opts.run) / "export"
    out.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, out / "model.pt2")
    info = {
        "checkpoint": str(loaded.checkpoint), "epoch": loaded.epoch, "task": loaded.task, "classes": loaded.classes,
        "input": {"shape": ["N", shape["channels"], shape["height"], shape["width"]], "dtype": "float32",
                  "normalize": shape.get("normalize"), "preprocess": shape["preprocess"]},
        "output": "logits, N x classes (softmax for probabilities)" if loaded.task == "classification"
                  else "reconstructions, N x C x H x W in [0, 1]",
        "note": "the plain model: the run's trainer.tta_flip and trainer.precision are not applied",
        "torch": torch.__version__,
    }
    (out / "model.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"Wrote model.pt2 and model.json to {out}")
