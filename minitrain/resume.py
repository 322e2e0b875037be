"""`minitrain resume=DIR`: rebuild the command line that continues a run, and check it before DIR is touched.

The run's saved overrides (DIR/.hydra/overrides.yaml) recompose its config through Hydra, the
overrides given now win over them (`trainer.epochs=8` to train longer), and `hydra.run.dir=DIR`
keeps everything in the same run directory. Before Hydra writes anything there, `check_resume`
refuses a resumed config that could not continue the run exactly (so a rejected resume changes
nothing); the checkpoint callback then restores the state.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from minitrain.errors import MinitrainError, ResumeError


class AlreadyComplete(MinitrainError):
    """The run has trained every epoch it was asked for: nothing to do, and that is not an error."""

    exit_code = 0


def resume_command(run_dir: Path | str) -> str:
    """The command that continues `run_dir`, quoted so that it works when pasted into a shell."""
    return f"minitrain resume={shlex.quote(str(run_dir))}"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _hydra_quoted(value: str) -> str:
    """A value Hydra's override parser reads back as exactly this string (spaces, commas, brackets and all)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def resume_argv(argv: list[str]) -> list[str]:
    """`argv` unchanged, or, when it holds `resume=DIR`, the arguments that continue that run."""
    given = [a for a in argv if _key(a) == "resume" and not a.startswith("~")]
    if not given:
        return argv
    value = given[-1].split("=", 1)[1] if "=" in given[-1] else ""
    if value.strip() == "null":
        return argv  # Hydra's null: no resume, as in the config's default
    if not value.strip():
        raise ResumeError("resume= needs the run directory to continue, e.g. resume=outputs/2026-01-31/12-00-00.")
    if "-m" in argv or "--multirun" in argv:
        raise ResumeError("resume= continues one run; it cannot be combined with --multirun (-m).")
    run_dir = Path(value.strip("'\"")).expanduser().resolve()
    for other in (a for a in argv if _key(a) == "hydra.run.dir" and "=" in a):
        if Path(other.split("=", 1)[1].strip("'\"")).expanduser().resolve() != run_dir:
            raise ResumeError(
                f"resume={run_dir} continues the run in its own directory; drop {other} "
                "(to branch off a run, copy its folder and resume the copy)."
            )
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file():
        raise ResumeError(
            f"resume={run_dir}: this is not a minitrain run directory (it has no .hydra/overrides.yaml). "
            "Give the folder of an earlier run, e.g. resume=outputs/2026-01-31/12-00-00."
        )
    if not (run_dir / "checkpoints" / "last.pt").is_file():
        raise ResumeError(
            f"resume={run_dir}: the run has no checkpoint yet (checkpoints/last.pt), so it stopped before its "
            "first epoch ended. Start it again instead of resuming."
        )
    try:
        saved = [str(o) for o in yaml.safe_load(overrides_file.read_text()) or []]
    except (OSError, yaml.YAMLError) as e:
        raise ResumeError(f"resume={run_dir}: cannot read {overrides_file} ({e}).") from None
    new = [a for a in argv if _key(a) not in ("resume", "hydra.run.dir")]
    new_keys = {_key(a) for a in new}  # `key=v`, `+key=v` and `~key` all replace what the run was started with
    kept = [o for o in saved if _key(o) not in new_keys | {"resume"}]
    quoted = _hydra_quoted(str(run_dir))
    return [*kept, *new, f"resume={quoted}", f"hydra.run.dir={quoted}"]


def with_data_shape(cfg):
    """`cfg`, or a copy with the dataset keys left null (channels, image_size, num_classes) filled in from the
    data, which the run being resumed has cached: the model's shape comes from them."""
    if all(cfg.dataset.get(key) is not None for key in ("channels", "image_size", "num_classes")):
        return cfg
    import copy

    from omegaconf import OmegaConf

    from minitrain.data import fill_from_data, load_image_data

    cfg = copy.deepcopy(cfg)
    OmegaConf.set_readonly(cfg, False)
    fill_from_data(cfg.dataset, load_image_data(cfg.dataset))
    return cfg


def check_resume(cfg) -> None:
    """Refuse, before anything in the run directory changes, a resumed config that cannot continue the run:
    bad values, no checkpoint callback, another model or optimizer, an unreadable checkpoint, missing data.
    Raises AlreadyComplete when the run has already trained `trainer.epochs` epochs."""
    from hydra.utils import get_class

    from minitrain.callbacks.checkpoint import load_checkpoint, qualified_name
    from minitrain.data import find_source
    from minitrain.build import build_model
    from minitrain.checks import check_config

    run_dir = Path(cfg.resume)
    check_config(job_config(cfg))
    if not cfg.callbacks.get("checkpoint"):
        raise ResumeError(f"resume={run_dir} restores the run through its checkpoint callback: "
                          "drop ~callbacks.checkpoint (or start a new run instead of resuming).")
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    mismatch = state_dict_mismatch(build_model(with_data_shape(cfg).model).state_dict(), state["model"])
    if mismatch:
        raise ResumeError(f"resume={run_dir}: the checkpoint's model does not fit the configured model ({mismatch}). "
                          "Resume with the model the run was started with (drop the model override).")
    wanted, saved = qualified_name(get_class(cfg.optimizer._target_)), state.get("optimizer_class")
    if saved is not None and saved != wanted:
        raise ResumeError(f"resume={run_dir}: the run was trained with {saved}, not {wanted}; its optimizer state "
                          "cannot be carried over. Resume with the optimizer the run was started with.")
    done, planned = state["epoch"], cfg.trainer.epochs
    if done == planned:
        raise AlreadyComplete(
            f"{run_dir} already completed its {done} epoch(s); nothing was changed. To train longer, give more "
            f"epochs: {resume_command(run_dir)} trainer.epochs={done + 5}"
        )
    if done > planned:
        raise ResumeError(f"resume={run_dir}: the run has already trained {done} epochs, more than "
                          f"trainer.epochs={planned}. Give trainer.epochs above {done} to train longer.")
    find_source(cfg.dataset)  # a local dataset.path that is missing or not a dataset is named here, not mid-run


def job_config(cfg):
    """The job's config without Hydra's own node, as Hydra hands it to the job (a Hydra callback sees both)."""
    import copy

    from omegaconf import open_dict, read_write

    job = copy.deepcopy(cfg)
    with read_write(job), open_dict(job):
        job.pop("hydra", None)
    return job


def state_dict_mismatch(expected: dict, saved: dict) -> str:
    """'' when `saved` fits a model whose state_dict is `expected`; else the first differences, on one line."""
    missing = [k for k in expected if k not in saved]
    extra = [k for k in saved if k not in expected]
    shapes = [f"{k} is {'x'.join(map(str, saved[k].shape))} in the checkpoint, "
              f"{'x'.join(map(str, expected[k].shape))} here"
              for k in expected if k in saved and tuple(saved[k].shape) != tuple(expected[k].shape)]
    parts = ([f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"] if missing else []) + \
            ([f"unexpected {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}"] if extra else []) + shapes[:2]
    return "; ".join(parts)
