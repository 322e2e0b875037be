"""A run survives what real runs meet: it checkpoints every epoch, resumes after a SIGKILL to the same
result, stops cleanly on SIGINT/SIGTERM, stops at a NaN loss before it reaches the weights, lets a
sweep outlive a diverged job, and repeats exactly with the same seed.

Every CLI run is a subprocess on a tiny synthetic IDX dataset, with its caches in the test's tmp
folder and the hub switched off; it never reads the system copy of Fashion-MNIST.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import conftest
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # CLI runs in subprocesses, started here rather than through run_cli
TIMEOUT = 300  # seconds a CLI run may take on a busy 2-core machine

make_images, idx_bytes = conftest.make_images, conftest.idx_bytes  # the shared test helpers


def write_idx_dataset(root: Path, n_train: int = 400, n_test: int = 100, label_noise: float = 0.2, seed: int = 0) -> Path:
    """The four gzipped IDX files of a learnable 10-class dataset; `label_noise` of the labels are random
    (so validation accuracy moves from epoch to epoch instead of sitting at 1.0)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        classes = rng.permutation(np.arange(n) % 10)
        images = make_images(classes, rng)
        labels = np.where(rng.random(n) < label_noise, rng.integers(0, 10, n), classes)
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images), compresslevel=1))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels), compresslevel=1))
    return root


def start_cli(tmp: Path, *args: str) -> subprocess.Popen:
    """conftest's background CLI run, with lines that never wrap."""
    return conftest.start_minitrain(tmp, *args, COLUMNS="1000")


def finish(proc: subprocess.Popen, tmp: Path) -> subprocess.CompletedProcess:
    return conftest.finish(proc, tmp, TIMEOUT)


def run_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return finish(start_cli(tmp, *args), tmp)


def run_cli_many(jobs: dict[str, tuple[Path, list[str]]]) -> dict[str, subprocess.CompletedProcess]:
    """Several runs side by side (most of a short run is starting Python and torch on one core)."""
    started = {name: (start_cli(tmp, *args), tmp) for name, (tmp, args) in jobs.items()}
    return {name: finish(proc, tmp) for name, (proc, tmp) in started.items()}


def output(result: subprocess.CompletedProcess) -> str:
    """stdout and stderr, with runs of whitespace folded (a long message may still wrap)."""
    return " ".join((result.stdout + "\n" + result.stderr).split())


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def read_metrics(path: Path) -> list[dict[str, str]]:
    """metrics.csv's rows, after checking that every line is complete (ends in a newline, no empty field)."""
    text = path.read_text()
    assert text.endswith("\n"), f"{path} ends in a torn line: {text[-80:]!r}"
    rows = list(csv.DictReader(text.splitlines()))
    for row in rows:
        assert None not in row and all(v not in (None, "") for v in row.values()), f"incomplete line in {path}: {row}"
    return rows


def data_rows(path: Path) -> int:
    """How many epochs metrics.csv holds right now (0 while it does not exist yet)."""
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def wait_until(condition, proc: subprocess.Popen, what: str, timeout: float = TIMEOUT) -> None:
    """Poll `condition` every 20 ms while `proc` runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def without_seconds(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """metrics.csv rows without the wall-time column, the one column allowed to differ between runs."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)  # as minitrain loads it: data only


# The runs several tests read ----------------------------------------------------------------------

QUIET = ["~callbacks.images", "~callbacks.loss_plot"]  # figures cost time and are tested elsewhere
SMALL = ["model=mlp", "loader.batch_size=32", "dataset.system_path=/nonexistent", *QUIET]
# Epochs of about a second or more, so a signal sent after an epoch lands inside the next one.
# optimizer.lr=1e9 does not reliably diverge this MLP: its ReLUs die and the loss stays large but finite.
# At 1e30 the first step overflows the logits, so batch 2's loss is NaN (checked on several data seeds).
DIVERGING_LR = "1e30"
SLOW = ["model=mlp", "loader.batch_size=16", "optimizer.lr=0.05", "dataset.system_path=/nonexistent", *QUIET]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    return write_idx_dataset(tmp_path_factory.mktemp("small-data"), n_train=400, n_test=100)


@pytest.fixture(scope="module")
def slow_data(tmp_path_factory) -> Path:
    return write_idx_dataset(tmp_path_factory.mktemp("slow-data"), n_train=3000, n_test=200)


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory, small_data) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Short CLI runs, side by side: two identical 2-epoch runs, a deterministic one, a diverging one, a sweep.

    Each entry is (run or sweep directory, result).
    """
    base = tmp_path_factory.mktemp("short-runs")
    common = [*SMALL, f"dataset.path={small_data}", "seed=0"]
    jobs = {
        "first": ["trainer.epochs=2"],
        "second": ["trainer.epochs=2"],
        "deterministic": ["trainer.epochs=2", "trainer.deterministic=true"],
        "diverged": ["trainer.epochs=2", f"optimizer.lr={DIVERGING_LR}"],
    }
    runs = {name: (base / name / "run", [*common, *extra, f"hydra.run.dir={base / name / 'run'}"]) for name, extra in jobs.items()}
    runs["sweep"] = (
        base / "sweep" / "multirun",
        ["-m", *common, "trainer.epochs=1", f"optimizer.lr=0.1,{DIVERGING_LR},0.2", f"hydra.sweep.dir={base / 'sweep' / 'multirun'}"],
    )
    results = run_cli_many({name: (base / name, args) for name, (_, args) in runs.items()})
    return {name: (runs[name][0], results[name]) for name in runs}


# 1. Checkpoints -----------------------------------------------------------------------------------


def test_a_two_epoch_run_leaves_last_and_best_checkpoints(short_runs):
    run_dir, result = short_runs["first"]
    assert result.returncode == 0, explain(result)
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "checkpoints" / "best.pt").is_file()


def test_last_checkpoint_holds_everything_needed_to_resume_after_the_final_epoch(short_runs):
    run_dir, result = short_runs["first"]
    assert result.returncode == 0, explain(result)
    last = load(run_dir / "checkpoints" / "last.pt")
    assert {"model", "optimizer", "epoch", "rng", "history"} <= set(last)
    assert last["epoch"] == 2
    assert [row["epoch"] for row in last["history"]] == [1, 2]
    assert {"torch", "python"} <= set(last["rng"])
    from minitrain.models import MLP

    model = MLP(image_size=28, hidden=50, num_classes=10)
    model.load_state_dict(last["model"])  # strict: every weight is there
    torch.optim.SGD(model.parameters(), lr=1.0).load_state_dict(last["optimizer"])
    csv_rows = read_metrics(run_dir / "metrics.csv")
    assert [{k: str(v) for k, v in row.items()} for row in last["history"]] == csv_rows


def test_best_checkpoint_is_the_epoch_with_the_highest_validation_accuracy(short_runs):
    run_dir, result = short_runs["first"]
    assert result.returncode == 0, explain(result)
    rows = read_metrics(run_dir / "metrics.csv")
    best_row = max(rows, key=lambda row: float(row["valid_accuracy"]))  # the first of equals: a tie is no improvement
    best = load(run_dir / "checkpoints" / "best.pt")
    assert best["epoch"] == int(best_row["epoch"])
    assert best["best"] == pytest.approx(float(best_row["valid_accuracy"]))
    assert json.loads((run_dir / "summary.json").read_text())["best_epoch"] == best["epoch"]


def test_atomic_write_leaves_the_old_file_intact_when_the_writer_fails_midway(tmp_path):
    from minitrain.errors import WriteError
    from minitrain.atomic import write_atomic

    target = tmp_path / "last.pt"
    target.write_bytes(b"the previous checkpoint")

    def write_half_then_fail(f):
        f.write(b"half of a new check")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match=f"Could not write {target}: the disk is full"):
        write_atomic(target, write_half_then_fail, mode="wb")
    assert target.read_bytes() == b"the previous checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"], "the temporary file was left behind"


def test_atomic_write_replaces_the_file_when_the_writer_succeeds(tmp_path):
    from minitrain.atomic import write_atomic

    target = tmp_path / "metrics.csv"
    target.write_text("old\n")
    write_atomic(target, lambda f: f.write("new\n"))
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


# 2. Resume after a SIGKILL ------------------------------------------------------------------------


def kill_after_two_epochs(tmp: Path, args: list[str], tries: int = 3) -> Path:
    """Start a 4-epoch run, SIGKILL it as soon as metrics.csv has 2 rows; retry if it was not caught mid-run."""
    for attempt in range(tries):
        run_dir = tmp / f"killed-{attempt}" / "run"
        proc = start_cli(run_dir.parent, *args, f"hydra.run.dir={run_dir}")
        wait_until(lambda: data_rows(run_dir / "metrics.csv") >= 2, proc, "epoch 2 ended")
        proc.send_signal(signal.SIGKILL)
        result = finish(proc, run_dir.parent)
        if result.returncode == -signal.SIGKILL and data_rows(run_dir / "metrics.csv") < 4:
            return run_dir
    raise AssertionError(f"could not kill the run during epoch 3 or 4 in {tries} tries: {explain(result)}")


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory, slow_data):
    """A 4-epoch run killed after epoch 2 and resumed, and the same run left alone (started side by side)."""
    tmp = tmp_path_factory.mktemp("sigkill")
    args = [*SLOW, f"dataset.path={slow_data}", "trainer.epochs=4", "seed=0"]
    whole_dir = tmp / "uninterrupted" / "run"
    whole = start_cli(whole_dir.parent, *args, f"hydra.run.dir={whole_dir}")
    try:
        killed_dir = kill_after_two_epochs(tmp, args)
    except BaseException:
        whole.kill()
        raise
    epochs_before_resume = data_rows(killed_dir / "metrics.csv")
    resumed = run_cli(tmp / "resume", f"resume={killed_dir}")
    return {
        "killed_dir": killed_dir,
        "epochs_before_resume": epochs_before_resume,
        "resumed": resumed,
        "whole_dir": whole_dir,
        "whole": finish(whole, whole_dir.parent),
        "tmp": tmp,
    }


def test_a_run_killed_mid_training_resumes_to_one_complete_row_per_epoch(killed_and_resumed):
    resumed, run_dir = killed_and_resumed["resumed"], killed_and_resumed["killed_dir"]
    assert 2 <= killed_and_resumed["epochs_before_resume"] < 4  # it really died mid-run
    assert resumed.returncode == 0, explain(resumed)
    rows = read_metrics(run_dir / "metrics.csv")
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert load(run_dir / "checkpoints" / "last.pt")["epoch"] == 4


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_run_with_the_same_seed_ends(killed_and_resumed):
    whole = killed_and_resumed["whole"]
    assert whole.returncode == 0, explain(whole)
    assert killed_and_resumed["resumed"].returncode == 0, explain(killed_and_resumed["resumed"])
    resumed_rows = read_metrics(killed_and_resumed["killed_dir"] / "metrics.csv")
    whole_rows = read_metrics(killed_and_resumed["whole_dir"] / "metrics.csv")
    assert len(resumed_rows) == len(whole_rows) == 4
    for key in ("valid_loss", "valid_accuracy"):
        assert float(resumed_rows[-1][key]) == pytest.approx(float(whole_rows[-1][key]), abs=1e-6), key
    for resumed_row, whole_row in zip(resumed_rows, whole_rows):  # and every epoch on the way
        for key in ("train_loss", "valid_loss", "valid_accuracy"):
            assert float(resumed_row[key]) == pytest.approx(float(whole_row[key]), abs=1e-6), (resumed_row, whole_row)


def test_resuming_a_finished_run_with_more_epochs_trains_only_the_extra_epoch(killed_and_resumed):
    assert killed_and_resumed["resumed"].returncode == 0, explain(killed_and_resumed["resumed"])
    run_dir = killed_and_resumed["tmp"] / "longer" / "run"
    shutil.copytree(killed_and_resumed["killed_dir"], run_dir)
    before = read_metrics(run_dir / "metrics.csv")
    result = run_cli(run_dir.parent / "cwd", f"resume={run_dir}", "trainer.epochs=5")
    assert result.returncode == 0, explain(result)
    rows = read_metrics(run_dir / "metrics.csv")
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4, 5], explain(result)
    assert without_seconds(rows[:4]) == without_seconds(before)
    trained = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert trained == ["5/5"], explain(result)  # epochs 1-4 were not trained again
    assert load(run_dir / "checkpoints" / "last.pt")["epoch"] == 5


def test_a_resume_with_workers_and_augmentation_repeats_the_uninterrupted_run_exactly(tmp_path, small_data):
    """Workers draw their seed when they start; a resumed run starts them an epoch later, which must not
    shift the augmentation's random draws (it did: epoch 2's train_loss was 1.02256 against 1.02665)."""
    args = [*SMALL, f"dataset.path={small_data}", "augment=flip_crop", "loader.num_workers=2", "scheduler=none", "seed=0"]
    jobs = {name: (tmp_path / name, [*args, f"trainer.epochs={epochs}", f"hydra.run.dir={tmp_path / name / 'run'}"])
            for name, epochs in (("whole", 2), ("first", 1))}
    results = run_cli_many(jobs)
    assert all(r.returncode == 0 for r in results.values()), [explain(r) for r in results.values()]
    resumed = run_cli(tmp_path / "resume", f"resume={tmp_path / 'first' / 'run'}", "trainer.epochs=2")
    assert resumed.returncode == 0, explain(resumed)
    whole = without_seconds(read_metrics(tmp_path / "whole" / "run" / "metrics.csv"))
    assert without_seconds(read_metrics(tmp_path / "first" / "run" / "metrics.csv")) == whole


def fake_run_dir(tmp: Path, overrides: list[str]) -> Path:
    """The two files resume= reads: Hydra's .hydra/overrides.yaml and checkpoints/last.pt."""
    (tmp / ".hydra").mkdir(parents=True)
    (tmp / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (tmp / "checkpoints").mkdir()
    (tmp / "checkpoints" / "last.pt").write_bytes(b"")
    return tmp


@pytest.mark.parametrize("again", ["~callbacks.images", "+callbacks.extra._target_=mypkg.Other", "trainer.epochs=9"])
def test_resume_passes_an_override_given_again_on_the_command_line_to_hydra_once(tmp_path, again):
    from minitrain.rundir import resume_argv

    run_dir = fake_run_dir(tmp_path / "run", ["model=mlp", "~callbacks.images", "+callbacks.extra._target_=mypkg.Cb",
                                              "trainer.epochs=4"])
    argv = resume_argv([f"resume={run_dir}", again])
    key = again.split("=", 1)[0].lstrip("+~")
    same_key = [a for a in argv if a.split("=", 1)[0].lstrip("+~") == key]
    assert same_key == [again], argv  # a second ~key makes Hydra stop: "Could not delete from config"
    # quoted for Hydra's override parser, so that a path with spaces, commas or brackets arrives as it is
    assert argv[-2:] == [f"resume='{run_dir.resolve()}'", f"hydra.run.dir='{run_dir.resolve()}'"]
    assert "model=mlp" in argv


# 3. SIGINT and SIGTERM ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, slow_data) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Two 6-epoch runs, side by side; once epoch 1 is saved, one gets SIGINT and the other SIGTERM."""
    tmp = tmp_path_factory.mktemp("signals")
    started = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        run_dir = tmp / sig.name / "run"
        args = [*SLOW, f"dataset.path={slow_data}", "trainer.epochs=6", "seed=0", f"hydra.run.dir={run_dir}"]
        started[sig] = (run_dir, start_cli(run_dir.parent, *args))
    waiting, deadline = dict(started), time.monotonic() + TIMEOUT
    while waiting:  # signal each run as soon as its first epoch is saved
        for sig, (run_dir, proc) in list(waiting.items()):
            if data_rows(run_dir / "metrics.csv") >= 1 and (run_dir / "checkpoints" / "best.pt").is_file():  # last.pt, then best.pt
                proc.send_signal(sig)
                del waiting[sig]
            elif proc.poll() is not None or time.monotonic() > deadline:
                for _, other in started.values():
                    other.kill()
                raise AssertionError(f"the {sig.name} run ended ({proc.returncode}) or stalled before saving epoch 1")
        time.sleep(0.02)
    return {sig.name: (run_dir, finish(proc, run_dir.parent)) for sig, (run_dir, proc) in started.items()}


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_mid_training_exits_with_128_plus_its_number(interrupted, sig, code):
    _, result = interrupted[sig]
    assert result.returncode == code, explain(result)
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_says_how_to_resume_it(interrupted, sig):
    run_dir, result = interrupted[sig]
    text = output(result)
    assert "minitrain resume=" in text
    assert f"minitrain resume={run_dir}" in text or f"minitrain resume={run_dir.resolve()}" in text, text


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_records_its_status_and_keeps_readable_metrics_and_checkpoint(interrupted, sig):
    run_dir, result = interrupted[sig]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    rows = read_metrics(run_dir / "metrics.csv")
    assert 1 <= len(rows) < 6, "the signal did not land mid-run"
    assert [int(row["epoch"]) for row in rows] == list(range(1, len(rows) + 1))
    assert summary["epochs_completed"] == len(rows)
    last = load(run_dir / "checkpoints" / "last.pt")
    # The signal may land between metrics.csv and last.pt being written: the checkpoint is then one epoch behind.
    assert last["epoch"] in (len(rows), len(rows) - 1) and last["epoch"] >= 1
    assert [str(row["epoch"]) for row in last["history"]] == [row["epoch"] for row in rows[: last["epoch"]]]
    assert not list((run_dir / "checkpoints").glob("*.tmp")), "a temporary checkpoint was left behind"


# 4. Divergence ------------------------------------------------------------------------------------


def test_a_learning_rate_that_diverges_stops_the_run_with_exit_code_3_and_no_traceback(short_runs):
    _, result = short_runs["diverged"]
    assert result.returncode == 3, explain(result)
    assert "Traceback" not in result.stdout + result.stderr


def test_the_divergence_message_names_the_epoch_the_batch_and_the_learning_rate(short_runs):
    _, result = short_runs["diverged"]
    text = output(result)
    assert "epoch 1, batch" in text, text
    assert "learning rate" in text
    assert "optimizer.lr=" in text  # a rate to try instead


def test_a_diverged_run_records_status_diverged_in_its_summary(short_runs):
    run_dir, _ = short_runs["diverged"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert "learning rate" in summary["error"]


def test_divergence_callback_raises_before_backward_so_an_infinite_loss_never_reaches_the_weights():
    from minitrain.callbacks import DivergenceCallback
    from minitrain.errors import DivergedError
    from minitrain.learner import Callback, DataLoaders, Learner

    torch.manual_seed(0)
    batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(3)]
    model = nn.Linear(4, 3)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    losses_computed = []

    def inf_on_second_batch(preds, targets):
        losses_computed.append(1)
        loss = F.cross_entropy(preds, targets)
        return loss * float("inf") if len(losses_computed) == 2 else loss

    class WeightsAfterEachStep(Callback):
        def __init__(self):
            self.snapshots = []

        def after_step(self, learn):
            self.snapshots.append({k: v.clone() for k, v in learn.model.state_dict().items()})

    recorder = WeightsAfterEachStep()
    learn = Learner(model, DataLoaders(batches, batches), inf_on_second_batch, 0.1,
                    [DivergenceCallback(), recorder])
    with pytest.raises(DivergedError, match=r"epoch 1, batch 2") as excinfo:
        learn.fit(1)
    assert "learning rate" in str(excinfo.value)
    assert len(recorder.snapshots) == 1, "only the first batch may reach the optimizer"
    assert any(not torch.equal(initial[k], recorder.snapshots[0][k]) for k in initial)  # batch 1 did train
    for name, value in model.state_dict().items():
        assert torch.equal(value, recorder.snapshots[0][name]), f"{name} changed on the infinite batch"
    assert all(p.grad is None for p in model.parameters()), "backward ran on the infinite loss"
    assert isinstance(learn.exception, DivergedError)


# 5. A sweep outlives a diverged job ---------------------------------------------------------------


def test_a_sweep_with_a_diverging_job_runs_every_job_and_reports_each_status(short_runs):
    sweep_dir, result = short_runs["sweep"]
    with (sweep_dir / "sweep.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(row["optimizer.lr"]) for row in rows] == [0.1, float(DIVERGING_LR), 0.2]  # Hydra writes 1e30 as 1e+30
    assert [row["status"] for row in rows] == ["completed", "diverged", "completed"], explain(result)
    assert "learning rate" in rows[1]["error"] and "epoch 1" in rows[1]["error"]
    assert rows[0]["error"] == rows[2]["error"] == ""
    for row in (rows[0], rows[2]):
        assert 0.0 <= float(row["valid_accuracy"]) <= 1.0


def test_a_sweep_with_a_failed_job_exits_1_after_writing_its_report(short_runs):
    sweep_dir, result = short_runs["sweep"]
    assert result.returncode == 1, explain(result)
    assert (sweep_dir / "sweep.csv").is_file()
    assert "1 of 3 jobs did not complete" in output(result)
    assert "Traceback" not in result.stdout + result.stderr


# 6. Repeatability ---------------------------------------------------------------------------------


def test_two_cpu_runs_with_the_same_seed_write_identical_metrics_but_for_wall_time(short_runs):
    (first_dir, first), (second_dir, second) = short_runs["first"], short_runs["second"]
    assert first.returncode == second.returncode == 0, explain(first) + explain(second)
    first_rows, second_rows = read_metrics(first_dir / "metrics.csv"), read_metrics(second_dir / "metrics.csv")
    assert len(first_rows) == 2
    assert without_seconds(first_rows) == without_seconds(second_rows)


def test_a_deterministic_run_completes_and_on_cpu_matches_the_default_run(short_runs):
    (run_dir, result), (first_dir, _) = short_runs["deterministic"], short_runs["first"]
    assert result.returncode == 0, explain(result)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert without_seconds(read_metrics(run_dir / "metrics.csv")) == without_seconds(read_metrics(first_dir / "metrics.csv"))


def test_seed_everything_with_deterministic_turns_on_torchs_deterministic_algorithms(monkeypatch):
    from minitrain.train import seed_everything

    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "unset-by-test")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")  # restored (to absent) after the test
    was = torch.are_deterministic_algorithms_enabled()
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(was)
    assert torch.are_deterministic_algorithms_enabled() is was


def test_seed_everything_without_deterministic_leaves_torchs_algorithms_alone():
    from minitrain.train import seed_everything

    torch.use_deterministic_algorithms(False)
    seed_everything(0)
    assert not torch.are_deterministic_algorithms_enabled()


def test_seed_everything_repeats_torchs_random_numbers():
    from minitrain.train import seed_everything

    seed_everything(123)
    first = torch.rand(5)
    seed_everything(123)
    assert torch.equal(torch.rand(5), first)
