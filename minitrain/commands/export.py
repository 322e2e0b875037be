"""`minitrain export run=DIR`: the model as a `torch.export` program (model.pt2) that runs without minitrain,
and as plain weights (weights.pt) that load without running code."""

from __future__ import annotations

import io
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
                     or one of its checkpoint files: run=DIR/checkpoints/last.pt
  checkpoint=best    best | last | the path of a .pt checkpoint
  out=null           where to write; null: DIR/export
  trust=false        build a model class from outside minitrain that the checkpoint names (imports its module)

Writes model.pt2, weights.pt and model.json (class names, input shape, preprocessing, the model's class and
arguments). Load the program with plain torch:
  info = json.load(open("model.json")); norm = info["input"]["normalize"]
  x = torch.as_tensor(pixels_uint8).float() / 255               # N x C x H x W
  if norm: x = (x - torch.tensor(norm["mean"])[:, None, None]) / torch.tensor(norm["std"])[:, None, None]
  logits = torch.export.load("model.pt2").module()(x)
torch.export.load unpickles parts of model.pt2: load only a model.pt2 whose source you trust. To share a model
with someone who should not have to trust you, send weights.pt and model.json: torch.load("weights.pt",
weights_only=True) runs no code, and model.json names the minitrain class and the arguments to build it with.
"""


@dataclass
class Options:
    run: str = MISSING
    checkpoint: Optional[str] = None  # best, or the checkpoint file run= names
    out: Optional[str] = None
    trust: bool = False


def run(opts: Options) -> None:
    """Export the model with a free batch size; write model.pt2 and model.json; print where."""
    import torch

    from minitrain.atomic import write_atomic, write_json
    from minitrain.errors import RunError
    from minitrain.inference import load_run
    from minitrain.rundir import find_run, report_dir

    loaded = load_run(opts.run, opts.checkpoint, "cpu", trust=opts.trust)
    shape = loaded.info["input"]
    example = torch.rand(2, shape["channels"], shape["height"], shape["width"])
    try:
        program = torch.export.export(loaded.model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as e:  # an operation torch.export cannot trace (a user's model)
        raise RunError(f"torch.export could not trace this model ({type(e).__name__}: {str(e).splitlines()[0]}).") from None
    out = Path(opts.out).expanduser() if opts.out else report_dir(find_run(opts.run), "export")
    program_bytes, weights_bytes = io.BytesIO(), io.BytesIO()
    torch.export.save(program, program_bytes)  # in memory first: a failed write leaves the previous export intact
    torch.save(loaded.model.state_dict(), weights_bytes)
    write_atomic(out / "model.pt2", lambda f: f.write(program_bytes.getvalue()), mode="wb")
    write_atomic(out / "weights.pt", lambda f: f.write(weights_bytes.getvalue()), mode="wb")
    from minitrain.models import CONFIG_ONLY

    model_args = {k: v for k, v in loaded.info["config"]["model"].items() if k not in ("_target_", *CONFIG_ONLY)}
    info = {
        "checkpoint": str(loaded.checkpoint), "epoch": loaded.epoch, "task": loaded.task, "classes": loaded.classes,
        "input": {"shape": ["N", shape["channels"], shape["height"], shape["width"]], "dtype": "float32",
                  "normalize": shape.get("normalize"), "preprocess": shape["preprocess"]},
        "output": "logits, N x classes (softmax for probabilities)" if loaded.task == "classification"
                  else "reconstructions, N x C x H x W in [0, 1]",
        "model": {"class": loaded.info["config"]["model"]["_target_"], "arguments": model_args,
                  "weights": "weights.pt: the state_dict, for torch.load(..., weights_only=True)"},
        "note": "the plain model: the run's trainer.tta_flip and trainer.precision are not applied",
        "torch": str(torch.__version__),
    }
    write_json(out / "model.json", info)
    print(f"Wrote model.pt2, weights.pt and model.json to {out}")
