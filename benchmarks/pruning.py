"""Pruning against none: the same 16-trial Optuna search over the learning rate and weight decay of
experiment=fashion_fast, once with the median pruner and once without, each one `minitrain` process (the basic
launcher: one trial after another, each on every core), started and timed from here (whole-process wall time).
Both use the same sampler seed, so they begin with the same trials. Nothing else may run meanwhile.

Records, per variant, the wall time, the best trial's accuracy and values, and every trial's state and epochs, as
raw JSON (default: benchmarks/results/DATE-pruning.json). Needs Optuna (pip install -e ".[scale]").

    python benchmarks/pruning.py
    python benchmarks/pruning.py --trials 16 --repeats 2 --out benchmarks/results/2026-12-03-pruning.json
    python benchmarks/pruning.py --trials 2 --extra dataset.path=DIR model=mlp experiment=null   # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from time_to_accuracy import minitrain_command  # benchmarks/, this script's folder

SPACE = ["optimizer.lr=tag(log,interval(0.002,0.05))", "optimizer.weight_decay=tag(log,interval(0.001,0.3))"]
VARIANTS = {"median": ["hydra.sweeper.pruner=median"], "none": ["hydra.sweeper.pruner=none"]}


def run_search(name: str, args: argparse.Namespace, sweep_dir: Path) -> dict:
    """One search in its own process; its wall time and what its study holds."""
    command = [*minitrain_command(), "-m", "hydra/sweeper=optuna", "experiment=fashion_fast", *SPACE,
               f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.sampler.seed={args.seed}",
               f"hydra.sweeper.sampler.n_startup_trials={args.startup}", *VARIANTS[name], *args.extra,
               f"hydra.sweep.dir={sweep_dir}"]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    study = optuna.load_study(study_name="minitrain", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    best = study.best_trial
    trials = [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
               "epochs": len(t.intermediate_values), "seconds": (t.datetime_complete - t.datetime_start).total_seconds()}
              for t in study.trials]
    return {"variant": name, "command": command, "wall_seconds": wall, "best_value": best.value,
            "best_params": best.params, "pruned": sum(t["state"] == "PRUNED" for t in trials),
            "epochs_trained": sum(t["epochs"] for t in trials), "trials": trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16, help="trials in each search")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed (the same for both variants)")
    parser.add_argument("--startup", type=int, default=8, help="TPE's random trials before it models")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant, interleaved")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for both searches")
    parser.add_argument("--work", default=None, help="where the sweep directories go (default: a temporary folder)")
    parser.add_argument("--out", default=f"benchmarks/results/{datetime.date.today()}-pruning.json",
                        help="write the raw rows as JSON here")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="pruning-"))
    rows = []
    for repeat in range(args.repeats):
        for name in VARIANTS:
            rows.append(run_search(name, args, work / f"{name}{repeat}"))
            row = rows[-1]
            print(f"{name}: {row['wall_seconds']:.1f} s, best {row['best_value']:.4f}, {row['pruned']} of {args.trials} "
                  f"pruned, {row['epochs_trained']} epochs trained", flush=True)

    print(f"\n{args.trials} trials of experiment=fashion_fast over {' '.join(SPACE)}\n")
    print("| pruner | wall seconds | best accuracy | trials pruned | epochs trained |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['wall_seconds']:.1f} | {100 * row['best_value']:.2f}% | {row['pruned']} | "
              f"{row['epochs_trained']} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"trials": args.trials, "seed": args.seed, "space": SPACE,
                                          "extra": args.extra, "cpu_count": os.cpu_count(), "rows": rows}, indent=2))
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
