"""Data-parallel training under torchrun (2 ranks, gloo, CPU): one run directory written by rank 0, the same
optimizer steps and losses as one process with the same global batch, identical weights on every rank,
resume; and the pieces behind it: sharded epoch samplers and the command line given to ranks above 0."""

from __future__ import annotations

import concurrent.futures
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import conftest

from minitrain import distributed
from minitrain.data.loaders import EpochBatchSampler

REPO = Path(__file__).resolve().parents[1]
BATCH = 64  # global: each of the 2 ranks takes 32 of every 64 items
EPOCHS = 2

# Counts optimizer steps per epoch and saves this rank's final weights to <out>/rank<RANK>.pt.
PROBE = textwrap.dedent('''
    import os
    from pathlib import Path

    import torch

    from minitrain.distributed import unwrap
    from minitrain.learner import Callback


    class Probe(Callback):
        def __init__(self, out):
            self.out = Path(out)
            self.steps = {}

        def after_step(self, learn):
            self.steps[learn.epoch] = self.steps.get(learn.epoch, 0) + 1

        def after_fit(self, learn):
            rank = int(os.environ.get("RANK", 0))
            weights = {k: v.detach().cpu().clone() for k, v in unwrap(learn.model).state_dict().items()}
            self.out.mkdir(parents=True, exist_ok=True)
            steps = [self.steps[e] for e in sorted(self.steps)]
            torch.save({"rank": rank, "steps": steps, "weights": weights}, self.out / f"rank{rank}.pt")
''')


def env_for(tmp: Path, plugins: Path) -> dict[str, str]:
    """conftest's CLI environment with the probe importable, outside any torchrun of the caller's."""
    env = conftest.cli_env(tmp, PYTHONPATH=str(plugins))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    return env


def run_minitrain(cwd: Path, env: dict[str, str], *args: str, nproc: int = 0) -> subprocess.CompletedProcess:
    """`python -m minitrain args` in `cwd`, or under torchrun with `nproc` CPU processes (a free port each time)."""
    cwd.mkdir(parents=True, exist_ok=True)
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc else []
    return subprocess.run(
        [sys.executable, *launcher, "-m", "minitrain", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
    )


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    return proc


def probe_of(out: Path, rank: int) -> dict:
    return torch.load(out / f"rank{rank}.pt", weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dataset_dirs, fakes):
    """Side by side: a 2-epoch torchrun run, the same run in one process, and a 1-epoch torchrun run to resume.

    Each starts in an empty working directory of its own, with caches outside it: {name: (cwd, run_dir, probe, proc)}.
    """
    base = tmp_path_factory.mktemp("distributed")
    plugins = base / "plugins"
    plugins.mkdir()
    (plugins / "probe_mod.py").write_text(PROBE)
    env = env_for(base, plugins)
    common = ["model=mlp", f"loader.batch_size={BATCH}", "callbacks.images.n_images=12",
              f"dataset.path={dataset_dirs['idx']}", "+callbacks.probe._target_=probe_mod.Probe"]
    plan = {"ddp": (EPOCHS, 2), "single": (EPOCHS, 0), "ddp_first": (1, 2)}
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(plan)) as pool:
        for name, (epochs, nproc) in plan.items():
            cwd, probe = base / name / "cwd", base / name / "probe"
            args = [*common, f"trainer.epochs={epochs}", f"+callbacks.probe.out={probe}", f"hydra.run.dir={cwd / 'run'}"]
            jobs[name] = (cwd, cwd / "run", probe, pool.submit(run_minitrain, cwd, env, *args, nproc=nproc))
    return {name: (cwd, run_dir, probe, future.result()) for name, (cwd, run_dir, probe, future) in jobs.items()}, env


def completed(runs, name):
    found, _ = runs
    cwd, run_dir, probe, proc = found[name]
    ok(proc)
    return cwd, run_dir, probe, proc


# torchrun end to end ----------------------------------------------------------------------------


@pytest.mark.slow  # torchrun and CLI runs in subprocesses (the `runs` fixture)
def test_torchrun_creates_only_the_run_directory_and_rank_0_alone_writes_into_it(runs, fakes):
    cwd, run_dir, _, proc = completed(runs, "ddp")
    assert sorted(p.name for p in cwd.iterdir()) == ["run"]  # no outputs/, .hydra or log file from rank 1
    assert [p.relative_to(cwd) for p in cwd.rglob("metrics.csv")] == [Path("run/metrics.csv")]
    assert [p.relative_to(cwd) for p in cwd.rglob(".hydra")] == [Path("run/.hydra")]
    assert (run_dir / "metrics.csv").read_text().count("train_loss") == 1  # one header: one writer
    header, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert header[:3] == ["epoch", "train_loss", "valid_loss"]
    assert [r["epoch"] for r in rows] == [str(e) for e in range(1, EPOCHS + 1)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == EPOCHS
    assert summary["world_size"] == 2  # the processes that trained, not the one that wrote the summary
    assert (run_dir / "checkpoints" / "last.pt").is_file()


@pytest.mark.slow  # torchrun and CLI runs in subprocesses (the `runs` fixture)
def test_torchrun_reports_each_epoch_once_not_once_per_rank(runs):
    _, _, _, proc = completed(runs, "ddp")
    for epoch in range(1, EPOCHS + 1):
        assert proc.stdout.count(f"epoch {epoch}/{EPOCHS}") == 1, proc.stdout


@pytest.mark.slow  # torchrun and CLI runs in subprocesses (the `runs` fixture)
def test_every_rank_ends_with_identical_weights(runs):
    _, _, probe, _ = completed(runs, "ddp")
    rank0, rank1 = probe_of(probe, 0), probe_of(probe, 1)
    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert rank0["weights"].keys() == rank1["weights"].keys() and rank0["weights"]
    for key, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][key]), key


@pytest.mark.slow  # torchrun and CLI runs in subprocesses (the `runs` fixture)
def test_each_rank_takes_as_many_steps_per_epoch_as_one_process_with_the_same_global_batch(runs, fake_data):
    _, _, ddp_probe, _ = completed(runs, "ddp")
    _, _, single_probe, _ = completed(runs, "single")
    expected = [math.ceil(len(fake_data.train_labels) / BATCH)] * EPOCHS  # 150 items per rank, 32 at a time: the same
    assert probe_of(single_probe, 0)["steps"] == expected
    assert probe_of(ddp_probe, 0)["steps"] == expected
    assert probe_of(ddp_probe, 1)["steps"] == expected


@pytest.mark.slow  # torchrun and CLI runs in subprocesses (the `runs` fixture)
def test_two_ranks_log_the_losses_of_one_process_seeing_the_same_global_batches(runs, fakes):
    _, ddp_dir, _, _ = completed(runs, "ddp")
    _, single_dir, _, _ = completed(runs, "single")
    _, ddp_rows = fakes.read_csv(ddp_dir / "metrics.csv")
    _, single_rows = fakes.read_csv(single_dir / "metrics.csv")
    assert len(ddp_rows) == len(single_rows) == EPOCHS
    for ddp, single in zip(ddp_rows, single_rows):
        for key in ("train_loss", "valid_loss"):
            assert math.isfinite(float(ddp[key])), (key, ddp)
            assert float(ddp[key]) == pytest.approx(float(single[key]), rel=1e-3), (key, ddp, single)


@pytest.mark.slow  # torchrun and CLI runs in subprocesses (the `runs` fixture)
def test_two_ranks_train_the_same_model_as_one_process_with_the_global_batch(runs):
    _, _, ddp_probe, _ = completed(runs, "ddp")
    _, _, single_probe, _ = completed(runs, "single")
    ddp, single = probe_of(ddp_probe, 0)["weights"], probe_of(single_probe, 0)["weights"]
    for key, tensor in single.items():
        assert torch.allclose(ddp[key], tensor, atol=1e-4), (key, (ddp[key] - tensor).abs().max())


@pytest.mark.slow  # torchrun and CLI runs in subprocesses (the `runs` fixture)
def test_a_torchrun_run_resumes_under_torchrun(runs, fakes, fake_data):
    cwd, run_dir, _, _ = completed(runs, "ddp_first")
    _, first_rows = fakes.read_csv(run_dir / "metrics.csv")
    assert [r["epoch"] for r in first_rows] == ["1"]
    _, env = runs
    probe = cwd.parent / "probe_resumed"
    ok(run_minitrain(cwd, env, f"resume={run_dir}", "trainer.epochs=2", f"+callbacks.probe.out={probe}", nproc=2))
    assert sorted(p.name for p in cwd.iterdir()) == ["run"]
    header, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[0] == first_rows[0]  # the first epoch's row is kept, not retrained
    assert all(math.isfinite(float(r["train_loss"])) for r in rows)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    rank0, rank1 = probe_of(probe, 0), probe_of(probe, 1)
    assert rank0["steps"] == rank1["steps"] == [math.ceil(len(fake_data.train_labels) / BATCH)]  # only epoch 2 trains, on both ranks
    for key, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][key]), key


# Sharded sampling ----------------------------------------------------------------------------------


def epoch_indices(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> list[int]:
    sampler = EpochBatchSampler(n, batch_size, shuffle=True, seed=seed, rank=rank, world_size=world_size)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    return [i for batch in batches for i in batch]


@pytest.mark.parametrize("n", [300, 301])
def test_two_ranks_take_disjoint_equal_shards_of_the_epochs_order(n):
    shards = [epoch_indices(n, 16, seed=3, epoch=1, rank=r, world_size=2) for r in (0, 1)]
    assert not set(shards[0]) & set(shards[1])
    assert len(shards[0]) == len(shards[1]) == n // 2  # an odd item out is left for this epoch
    assert len(set(range(n)) - set(shards[0] + shards[1])) == n % 2
    assert all(len(set(s)) == len(s) for s in shards)


@pytest.mark.parametrize("n, batch_size", [(301, 150), (11, 5), (1000, 7)])
def test_every_rank_trains_on_as_many_batches_as_the_others(n, batch_size):
    """One training batch more on one rank would leave DDP waiting for the others' gradients forever."""
    lengths = {len(EpochBatchSampler(n, batch_size, shuffle=True, rank=r, world_size=3)) for r in range(3)}
    assert len(lengths) == 1


def test_validation_shards_together_cover_every_item():
    shards = [EpochBatchSampler(301, 16, shuffle=False, rank=r, world_size=2) for r in (0, 1)]
    assert sorted(i for sampler in shards for batch in sampler for i in batch) == list(range(301))


def test_the_shards_of_a_global_batch_are_the_items_one_process_would_take():
    single = EpochBatchSampler(300, 64, shuffle=True, seed=3)
    ranks = [EpochBatchSampler(300, 32, shuffle=True, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for sampler in (single, *ranks):
        sampler.set_epoch(2)
    for whole, part0, part1 in zip(single, *ranks, strict=True):
        assert sorted(part0 + part1) == sorted(whole)


def test_each_epoch_shuffles_differently_on_every_rank():
    for rank in (0, 1):
        orders = [epoch_indices(300, 16, seed=3, epoch=e, rank=rank, world_size=2) for e in range(3)]
        assert orders[0] != orders[1] != orders[2] != orders[0]


def test_the_same_seed_and_epoch_give_the_same_order():
    for rank in (0, 1):
        again = [epoch_indices(300, 16, seed=3, epoch=4, rank=rank, world_size=2) for _ in range(2)]
        assert again[0] == again[1]
    assert epoch_indices(300, 16, seed=3, epoch=4) != epoch_indices(300, 16, seed=4, epoch=4)


# The command line of ranks above 0 ----------------------------------------------------------------


def test_ranks_above_0_get_no_run_directory_of_their_own(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    argv = ["model=mlp", "hydra.run.dir=/somewhere/run", "trainer.epochs=2", "+hydra.output_subdir=.x"]
    out = distributed.worker_argv(argv)
    assert "hydra.run.dir=." in out and "hydra.output_subdir=null" in out
    assert "hydra.run.dir=/somewhere/run" not in out and "+hydra.output_subdir=.x" not in out
    assert [a for a in out if a.split("=", 1)[0].lstrip("+~") == "hydra.run.dir"] == ["hydra.run.dir=."]
    assert out[:2] == ["model=mlp", "trainer.epochs=2"]  # everything else is kept, in order


@pytest.mark.parametrize("rank", ["0", None])
def test_rank_0_and_a_single_process_keep_their_command_line(monkeypatch, rank):
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    argv = ["model=mlp", "hydra.run.dir=/somewhere/run", "hydra.output_subdir=.hydra"]
    assert distributed.worker_argv(argv) == argv
