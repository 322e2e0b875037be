"""`minitrain resume=DIR`: rebuild the command line that re-creates a run in its own directory.

The run's saved overrides (DIR/.hydra/overrides.yaml) recompose its config through Hydra, the
overrides given now win over them (`trainer.epochs=8` to train longer), and `hydra.run.dir=DIR`
keeps everything in the same run directory. The checkpoint callback then restores the state.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from minitrain.errors import ResumeError


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_argv(argv: list[str]) -> list[str]:
    """`argv` unchanged, or, when it holds `resume=DIR`, the arguments that continue that run."""
    given = [a for a in argv if _key(a) == "resume"]
    if not given or given[-1].endswith("="):
        return argv
    if "-m" in argv or "--multirun" in argv:
        raise ResumeError("resume= continues one run; it cannot be combined with --multirun (-m).")
    run_dir = Path(given[-1].split("=", 1)[1]).expanduser().resolve()
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
    return [*kept, *new, f"resume={run_dir}", f"hydra.run.dir={run_dir}"]
