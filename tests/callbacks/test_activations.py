"""Activation statistics (inspect=activations): per training batch and per conv/linear layer, the histogram
of |activation|, the share near zero, the mean and the std; four files when the fit ends; no hook left behind."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.build import CALLBACK_GROUPS
from minitrain.callbacks.activations import ActivationStatsCallback
from minitrain.learner import Callback, DataLoaders, Learner

FILES = ["activations_color_dim.png", "activations_dead.png", "activations_stats.png"]


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 3))


def dls(n_train: int = 5, n_valid: int = 2) -> DataLoaders:
    g = torch.Generator().manual_seed(0)
    make = lambda n: [(torch.randn(8, 1, 16, 16, generator=g), torch.randint(0, 3, (8,), generator=g))  # noqa: E731
                      for _ in range(n)]
    return DataLoaders(make(n_train), make(n_valid))


def fit(run_dir=None, epochs: int = 2, *extra: Callback, **options) -> tuple[Learner, ActivationStatsCallback]:
    stats = ActivationStatsCallback(**options)
    learn = Learner(conv_net(), dls(), F.cross_entropy, 0.1, [stats, *extra], run_dir=run_dir)
    learn.fit(epochs)
    return learn, stats


def test_it_writes_the_three_figures_and_one_json_with_a_row_per_training_batch_and_layer(tmp_path, fakes):
    fit(tmp_path, epochs=2)
    assert all(fakes.is_png(tmp_path / name) for name in FILES)
    report = json.loads((tmp_path / "activations.json").read_text())
    assert [(layer["name"], layer["type"]) for layer in report["layers"]] == \
        [("0", "Conv2d"), ("2", "Conv2d"), ("5", "Linear")]
    for layer in report["layers"]:
        assert layer["epoch"] == [0] * 5 + [1] * 5  # training batches only, none of the validation ones
        assert len(layer["mean"]) == len(layer["std"]) == len(layer["near_zero_share"]) == 10
        assert all(0 <= share <= 1 for share in layer["near_zero_share"]) and all(s > 0 for s in layer["std"])
        assert sorted(layer["histogram_per_epoch"]) == ["0", "1"]
        assert all(len(counts) == report["bins"] == 40 for counts in layer["histogram_per_epoch"].values())


def test_the_statistics_are_those_of_the_layers_output():
    outputs = []
    learn, stats = fit(epochs=1)
    learn2 = Learner(conv_net(), dls(), F.cross_entropy, 0.1)  # the same weights and batches, without the callback
    handle = learn2.model[0].register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    learn2.fit(1, valid=False)
    handle.remove()
    first = stats.tables()[0]
    assert first[:, 1].tolist() == pytest.approx([o.mean().item() for o in outputs], rel=1e-5)
    assert first[:, 2].tolist() == pytest.approx([o.std().item() for o in outputs], rel=1e-5)
    near_zero = [(o.abs() < 0.25).float().mean().item() for o in outputs]
    assert first[:, 3].tolist() == pytest.approx(near_zero, abs=1e-6)
    assert first[0, 4:].sum().item() == sum(((o.abs() <= 10).sum().item() for o in outputs[:1]))


def test_every_n_records_every_nth_training_batch():
    _, stats = fit(epochs=2, every=3)
    assert [len(t) for t in stats.tables()] == [4, 4, 4]  # batches 0, 3, 6, 9 of ten


def test_no_hook_is_left_on_the_model_after_a_fit_that_ends_or_fails(tmp_path):
    learn, _ = fit(tmp_path)
    assert all(not m._forward_hooks for m in learn.model.modules())

    class Boom(Callback):
        def after_step(self, learn):
            if learn.iter == 2:
                raise RuntimeError("boom")

    stats = ActivationStatsCallback()
    failing = Learner(conv_net(), dls(), F.cross_entropy, 0.1, [stats, Boom()], run_dir=tmp_path / "failed")
    (tmp_path / "failed").mkdir()
    with pytest.raises(RuntimeError, match="boom"):
        failing.fit(2)
    assert all(not m._forward_hooks for m in failing.model.modules())
    assert json.loads((tmp_path / "failed" / "activations.json").read_text())["layers"][0]["epoch"] == [0, 0, 0]


def test_inspect_activations_adds_the_callback_and_inspect_none_adds_nothing(compose_config):
    [stats] = CALLBACK_GROUPS["inspect"](compose_config("inspect=activations", "inspect.every=5"), torch.device("cpu"))
    assert isinstance(stats, ActivationStatsCallback) and (stats.bins, stats.max_value, stats.every) == (40, 10.0, 5)
    assert CALLBACK_GROUPS["inspect"](compose_config(), torch.device("cpu")) == []


def test_minitrain_inspect_activations_writes_the_files_into_the_run_directory(tmp_path, dataset_dirs, fakes, run_cli):
    run_dir = tmp_path / "run"
    proc = run_cli(tmp_path, *fakes.tiny, "model=cnn", "inspect=activations", f"dataset.path={dataset_dirs['idx']}",
                   f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all(fakes.is_png(run_dir / name) for name in FILES)
    layers = json.loads((run_dir / "activations.json").read_text())["layers"]
    # the lesson's CNN: four hidden convs, one to logits (a Conv2d that computes its one pixel as a matrix product)
    assert [layer["type"] for layer in layers] == ["Conv2d"] * 3 + ["FewPixelConv", "OnePixelConv"]
    assert all(len(layer["mean"]) == 300 // 64 + 1 for layer in layers)  # one row per training batch
