"""Time to accuracy: whole-process wall time of the lesson's pipeline, Lightning and minitrain presets, side by side.

Each row is one process, started and timed from here, one after the other (nothing else may run meanwhile):
Python's start, imports, data preparation, training, validation and writing the run's files all count. The seconds
to 90% and to 92% are from the process's start to the end of the first epoch whose validation (the full 10,000 test
images) reached that accuracy (93% and 94% too, for the accuracy ladder).

    python benchmarks/time_to_accuracy.py                               # the lesson's pipeline and fashion_fast
    python benchmarks/time_to_accuracy.py --rows lesson lightning default fashion_fast fashion_cnn_bn
    python benchmarks/time_to_accuracy.py --rows fashion_fast --repeats 3 --out fast.json

Rows: `lesson` (benchmarks/lesson_pipeline.py), `lightning` (the same with a Lightning Trainer), `default`
(`minitrain` with no overrides) and any name from configs/experiment/ (`minitrain experiment=NAME`), each run as
`python -m minitrain` by this Python. Needs minitrain installed with the bench extra (pip install -e ".[bench]").
Before the first row, untimed: the lesson's data is written once as the hub's Arrow files (a warm hub cache), and
loading it fills minitrain's decoded-data cache, so that every row starts from a warm cache.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from minitrain.threads import available_cores

HERE = Path(__file__).resolve().parent
EPOCH_LINE = re.compile(r"^\[(?P<stamp>[\d\- :,]+)\]\[minitrain[.\w]*\]\[INFO\] - epoch (?P<epoch>\d+)/\d+ .*"
                        r"valid_accuracy (?P<accuracy>[\d.]+)")


def minitrain_command() -> list[str]:
    """The minitrain this Python imports (not whichever `minitrain` script comes first on PATH)."""
    return [sys.executable, "-m", "minitrain"]


class RowFailed(Exception):
    """A row's process exited non-zero; the message holds its command and the end of its stderr."""


def prepare_lesson_data(folder: Path) -> Path:
    """Fashion-MNIST as the hub serves it (PNG bytes in Arrow files), saved once like a warm hub cache."""
    import datasets
    from hydra import compose, initialize_config_dir

    from lesson_pipeline import hub_style_dataset
    from minitrain.cli import config_dir
    from minitrain.data import load_image_data

    target = folder / "fashion_mnist_arrow"
    if not target.exists():
        with initialize_config_dir(config_dir=config_dir(), version_base=None):
            data = load_image_data(compose("config").dataset)  # also fills minitrain's cache
        datasets.DatasetDict({
            name: hub_style_dataset(split.images[:, 0].numpy(), split.labels.tolist(), data.classes)
            for name, split in (("train", data.train), ("test", data.valid))
        }).save_to_disk(str(target))
    return target


def epochs_from_log(log: Path) -> list[tuple[int, float, float]]:
    """(epoch, valid_accuracy, time.time() when it was logged) for each epoch line of a minitrain.log."""
    rows = []
    for line in log.read_text().splitlines():
        if m := EPOCH_LINE.match(line):
            stamp = datetime.strptime(m["stamp"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            rows.append((int(m["epoch"]), float(m["accuracy"]), stamp))
    return rows


def epochs_from_stdout(stdout: str) -> list[tuple[int, float, float]]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [(r["epoch"], r["valid_accuracy"], r["time"]) for r in rows]


def run_row(name: str, lesson_data: Path, work: Path, seed: int | None = None) -> dict:
    """Start the row's process, wait for it, and return its wall time and its epochs (accuracy, seconds since start).
    `seed` (minitrain rows only) is passed as `seed=N`; None keeps the config's seed (42)."""
    run_dir = work / f"{name}-{time.time_ns()}"
    if name in ("lesson", "lightning"):
        command = [sys.executable, str(HERE / "lesson_pipeline.py"), "--data", str(lesson_data),
                   *(["--trainer", "lightning"] if name == "lightning" else [])]
    else:
        command = [*minitrain_command(), *([] if name == "default" else [f"experiment={name}"]),
                   *([] if seed is None else [f"seed={seed}"]), f"hydra.run.dir={run_dir}"]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    wall = time.time() - start
    if done.returncode != 0:
        raise RowFailed(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    epochs = epochs_from_stdout(done.stdout) if name in ("lesson", "lightning") else epochs_from_log(run_dir / "minitrain.log")
    return {"row": name, "seed": seed, "command": command, "wall_seconds": wall,
            "epochs": [{"epoch": e, "valid_accuracy": a, "seconds": t - start} for e, a, t in epochs]}


def seconds_to(target: float, epochs: list[dict]) -> float | None:
    return next((e["seconds"] for e in epochs if e["valid_accuracy"] >= target), None)


def accuracy(text: str) -> float:
    """A target accuracy as a fraction: 0.93 and 93 (percent) both mean 93%."""
    value = float(text)
    if 1 < value <= 100:
        value /= 100
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not an accuracy: give a fraction (0.93) or a percentage (93)")
    return value


def cell(seconds: float | None) -> str:
    return f"{seconds:.1f}" if seconds is not None else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=["lesson", "fashion_fast"])
    parser.add_argument("--targets", nargs="+", type=accuracy, default=[0.90, 0.92, 0.93, 0.94],
                        help="validation accuracies for the seconds-to columns, as fractions (0.93) or percentages (93)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each row, interleaved; the table shows the median wall time")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="run each minitrain row once per seed (after the first repeat's seed 42 rows: one per seed)")
    parser.add_argument("--work", default=None, help="where the lesson's data and the run directories go (default: a temporary folder)")
    parser.add_argument("--out", default=None, help="write every run as JSON here")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="time_to_accuracy-"))
    work.mkdir(parents=True, exist_ok=True)
    lesson_data = prepare_lesson_data(work)

    runs: dict[str, list[dict]] = {name: [] for name in args.rows}
    seeds: dict[str, list[dict]] = {}  # the extra seeds' runs: accuracy only, never in the timing medians
    try:
        for repeat in range(args.repeats):
            for name in args.rows:
                result = run_row(name, lesson_data, work)
                runs[name].append(result)
                report(f"[{repeat + 1}/{args.repeats}] {name}", result)
        for seed in args.seeds or []:
            for name in args.rows:
                if name not in ("lesson", "lightning"):
                    result = run_row(name, lesson_data, work, seed)
                    seeds.setdefault(name, []).append(result)
                    report(f"[seed {seed}] {name}", result)
    except RowFailed as e:
        write_runs(args.out, runs, seeds)  # keep the rows that did finish
        sys.exit(str(e))
    write_runs(args.out, runs, seeds)

    import torch

    print(f"\n{available_cores()} CPU cores; torch {torch.__version__}; whole-process wall time of the median run "
          f"(the lower middle one for an even count) of {args.repeats}\n")
    print(f"| run | wall seconds | valid accuracy (last epoch) | "
          f"{' | '.join(f'seconds to {t:.0%}' for t in args.targets)} | epochs |")
    print("|---|---:|---:|" + "---:|" * len(args.targets) + "---:|")
    for name, results in runs.items():
        middle = sorted(results, key=lambda r: r["wall_seconds"])[(len(results) - 1) // 2]
        walls = ", ".join(f"{r['wall_seconds']:.1f}" for r in results)
        last = middle["epochs"][-1] if middle["epochs"] else {"valid_accuracy": float("nan")}
        print(f"| {name} | {middle['wall_seconds']:.1f} ({walls}) | "
              f"{last['valid_accuracy']:.4f} | "
              f"{' | '.join(cell(seconds_to(t, middle['epochs'])) for t in args.targets)} | {len(middle['epochs'])} |")
    for name, results in seeds.items():
        finals = ", ".join(f"seed {r['seed']}: {r['epochs'][-1]['valid_accuracy']:.4f}" for r in results if r["epochs"])
        print(f"{name}, other seeds (last epoch): {finals}")


def report(label: str, result: dict) -> None:
    accuracies = ", ".join(f"{e['valid_accuracy']:.4f}@{e['seconds']:.1f}s" for e in result["epochs"])
    print(f"{label}: {result['wall_seconds']:.1f} s wall; {accuracies}", flush=True)


def write_runs(out: str | None, runs: dict[str, list[dict]], seeds: dict[str, list[dict]]) -> None:
    """Every run of every row (and of every extra seed), as JSON, to `out` (when given)."""
    if out:
        import torch

        Path(out).write_text(json.dumps({"cores": available_cores(), "torch": torch.__version__, "cpu": cpu_name(),
                                         "runs": runs, "seeds": seeds}, indent=2))


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 BF16 (bf16 autocast is emulated without it)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown")
    return f"{name}{', avx512_bf16' if 'avx512_bf16' in info else ', no avx512_bf16'}"


if __name__ == "__main__":
    main()
