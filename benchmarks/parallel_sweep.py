"""Parallel sweeps against sequential ones: the same 4-job sweep run one job after another, by the joblib launcher
with minitrain sharing the cores among its jobs, and by the joblib launcher with every job forced to use all the
cores (what happens when torch processes fight over them).

Each variant is one `minitrain -m` process, started and timed from here (whole-process wall time), one after the
other; nothing else may run meanwhile. Needs the scale extra (pip install -e ".[scale]"). Note that joblib's workers
get OMP_NUM_THREADS = cores // n_jobs unless it is set already: the third variant sets it to every core.

    python benchmarks/parallel_sweep.py
    python benchmarks/parallel_sweep.py --sweep experiment=fashion_fast optimizer.lr=0.005,0.01,0.02,0.04 --n-jobs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minitrain.threads import available_cores
from time_to_accuracy import minitrain_command  # benchmarks/, this script's folder


def run_sweep(label: str, launcher: list[str], sweep: list[str], sweep_dir: Path, env: dict[str, str]) -> dict:
    command = [*minitrain_command(), "-m", *launcher, *sweep, f"hydra.sweep.dir={sweep_dir}"]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with open(sweep_dir / "sweep.csv", newline="") as f:
        jobs = list(csv.DictReader(f))
    threads = [json.loads((sweep_dir / job["job"] / "summary.json").read_text()).get("cpu_threads") for job in jobs]
    return {"variant": label, "command": command, "wall_seconds": wall, "cpu_threads": threads,
            "statuses": [job["status"] for job in jobs],
            "valid_accuracy": [float(job["valid_accuracy"]) for job in jobs if job.get("valid_accuracy")]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", nargs="+", default=["experiment=fashion_fast", "optimizer.lr=0.005,0.01,0.02,0.04"],
                        help="the sweep's overrides (4 jobs by default)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--work", default=None, help="where the sweep directories go (default: a temporary folder)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="parallel_sweep-"))
    user = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cores = available_cores()
    joblib = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"]
    variants = [
        ("one job after another (the basic launcher)", [], user),
        (f"joblib, n_jobs={args.n_jobs}, cores shared", joblib, user),
        (f"joblib, n_jobs={args.n_jobs}, every job on all {cores} cores (OMP_NUM_THREADS={cores})", joblib,
         {**user, "OMP_NUM_THREADS": str(cores)}),
    ]
    rows = []
    for i, (label, launcher, env) in enumerate(variants):
        rows.append(run_sweep(label, launcher, args.sweep, work / f"sweep{i}", {**env, "NO_COLOR": "1"}))
        print(f"{label}: {rows[-1]['wall_seconds']:.1f} s, threads per job {rows[-1]['cpu_threads']}, "
              f"accuracy {rows[-1]['valid_accuracy']}", flush=True)

    base = rows[0]["wall_seconds"]
    print(f"\n{cores} CPU cores; sweep: {' '.join(args.sweep)}\n")
    print("| how the jobs ran | torch threads per job | wall seconds | against one after another |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {', '.join(map(str, row['cpu_threads']))} | {row['wall_seconds']:.1f} | "
              f"{row['wall_seconds'] / base:.2f}× the time |")
    if args.out:
        Path(args.out).write_text(json.dumps({"cores": cores, "sweep": args.sweep, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
