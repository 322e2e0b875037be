"""Your own model, optimizer and callbacks, from your own config folder, without touching minitrain:
any class by `_target_` with its own keys composes, builds and trains; the built-in options stay typed."""

from __future__ import annotations

import sys

import json
import textwrap

import pytest
import torch
from hydra.errors import ConfigCompositionException

from minitrain.errors import ConfigError
from minitrain.train import build, build_model, check_config

USER_FILES = {
    "plugins/mymodels.py": '''
        from torch import nn


        class Net(nn.Sequential):
            """Flatten, one hidden layer of `width` units with dropout, then the classes."""

            def __init__(self, width: int, dropout: float, num_classes: int = 10) -> None:
                super().__init__(nn.Flatten(), nn.Linear(28 * 28, width), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(width, num_classes))
    ''',
    "plugins/mycallbacks.py": '''
        from minitrain.learner import Callback


        class Marker(Callback):
            def __init__(self, filename):
                self.filename = filename

            def after_fit(self, learn):
                (learn.run_dir / self.filename).write_text(f"epochs={len(learn.history)}")
    ''',
    "myconf/model/mynet.yaml": '''
        _target_: mymodels.Net   # not a minitrain class, and keys no built-in schema has
        width: 32
        dropout: 0.1
        num_classes: ${dataset.num_classes}
    ''',
    "myconf/optimizer/rmsprop.yaml": '''
        _target_: torch.optim.RMSprop   # any torch.optim class with its own keys
        lr: 0.002
        alpha: 0.9
    ''',
    "myconf/callbacks/marker.yaml": '''
        marker:   # added to the callbacks mapping with +callbacks=marker
          _target_: mycallbacks.Marker
          filename: marker.txt
    ''',
}


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    """A user's folder: their modules in plugins/, their configs in myconf/."""
    root = tmp_path_factory.mktemp("user")
    for name, text in USER_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture
def compose_user(user_dir, compose_config, monkeypatch):
    """compose_config with the user's config folder on the search path and their modules importable."""
    monkeypatch.syspath_prepend(str(user_dir / "plugins"))
    for name in [m for m in sys.modules if m == "mymodels" or m.startswith("mymodels.")]:
        monkeypatch.delitem(sys.modules, name)  # another test's mymodels (the docs' example) must not stand in for this one
    return lambda *overrides: compose_config(f"hydra.searchpath=[file://{user_dir / 'myconf'}]", *overrides)


def test_a_user_model_with_its_own_keys_composes_and_builds(compose_user):
    cfg = compose_user("model=mynet")
    assert (cfg.model._target_, cfg.model.width, cfg.model.dropout, cfg.model.task) == (
        "mymodels.Net", 32, 0.1, "classification")  # task: a classifier unless the file says otherwise
    net = build_model(cfg.model)
    assert type(net).__module__ == "mymodels" and net[1].out_features == 32
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    check_config(cfg)


def test_a_key_the_user_model_lacks_fails_at_composition(compose_user):
    with pytest.raises(ConfigCompositionException, match="widht"):
        compose_user("model=mynet", "model.widht=64")


def test_a_typo_in_a_built_in_model_key_still_fails_at_composition(compose_user):
    with pytest.raises(ConfigCompositionException, match="model.channel"):
        compose_user("model=cnn", "model.channel=[8,16]")


def test_a_user_optimizer_builds_its_torch_class_with_its_own_keys(compose_user):
    cfg = compose_user("optimizer=rmsprop")
    opt = build("optimizer", cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert type(opt) is torch.optim.RMSprop
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["alpha"]) == (0.002, 0.9)


def test_a_user_model_with_an_unknown_task_is_refused_naming_the_key(compose_user):
    with pytest.raises(ConfigError, match="model.task=regression must be one of classification, reconstruction"):
        check_config(compose_user("model=mynet", "model.task=regression"))


def test_a_user_optimizer_without_a_learning_rate_is_refused_naming_the_key(compose_user):
    with pytest.raises(ConfigError, match="optimizer.lr=None must be a positive number"):
        check_config(compose_user("optimizer=rmsprop", "~optimizer.lr"))


@pytest.fixture(scope="module")
def runs(user_dir, tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """The user's model, optimizer and callback trained from their config folder with -cd: once, and in a
    sweep beside a built-in model."""
    base = tmp_path_factory.mktemp("user-runs")
    common = ["optimizer=rmsprop", "+callbacks=marker", *fakes.tiny[1:],
              f"dataset.path={dataset_dirs['idx']}"]
    env = {"PYTHONPATH": str(user_dir / "plugins")}
    return run_cli_many({
        "run": (base, ["-cd", str(user_dir / "myconf"), "model=mynet", *common, f"hydra.run.dir={base / 'run'}"], env),
        "sweep": (base, ["-m", "--config-dir", str(user_dir / "myconf"), "model=mynet,mlp", *common,
                         f"hydra.sweep.dir={base / 'sweep'}"], env),
    }) | {"base": base}


def test_a_user_model_trains_from_a_user_config_dir_and_the_summary_names_it_and_its_class(runs):
    assert runs["run"].returncode == 0, runs["run"].stderr[-3000:]
    run_dir = runs["base"] / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["model"], summary["model_class"]) == ("completed", "mynet", "mymodels.Net")
    assert (run_dir / "marker.txt").read_text() == "epochs=1"  # the user's callback, from their config file


def test_a_sweep_report_names_each_model_by_option_and_class(runs, fakes):
    assert runs["sweep"].returncode == 0, runs["sweep"].stderr[-3000:]
    _, rows = fakes.read_csv(runs["base"] / "sweep" / "sweep.csv")
    assert [(r["model"], r["model_class"], r["status"]) for r in rows] == [
        ("mynet", "mymodels.Net", "completed"), ("mlp", "minitrain.models.MLP", "completed")]


# Your own module, found without PYTHONPATH by the `minitrain` script (which, unlike python -m, adds no folder) ------

ALIAS = "from minitrain.models.mlp import MLP as Net  # the user's model, here the built-in MLP under another name\n"


@pytest.fixture(scope="module")
def own_module_runs(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """mymodels.py in the current folder; beside a -cd config folder, run from elsewhere; and nowhere."""
    base = tmp_path_factory.mktemp("own-modules")
    (base / "here").mkdir()
    (base / "here" / "mymodels.py").write_text(ALIAS)
    (base / "project" / "conf" / "model").mkdir(parents=True)
    (base / "project" / "mymodels.py").write_text(ALIAS)
    (base / "project" / "conf" / "model" / "mine.yaml").write_text(
        "defaults:\n  - mlp\n  - _self_\n\n_target_: mymodels.Net   # the user's own class\n")
    common = [*fakes.tiny, f"dataset.path={dataset_dirs['idx']}"]
    jobs = {
        "here": (base / "here", [*common, "model._target_=mymodels.Net"], {"script": True}),
        "beside": (base / "elsewhere", ["-cd", str(base / "project" / "conf"), *common, "model=mine"], {"script": True}),
        "nowhere": (base / "nowhere", [*common, "model._target_=nosuchmodels.Net"], {"script": True}),
    }
    return {name: (jobs[name][0], proc) for name, proc in run_cli_many(jobs).items()}


@pytest.mark.parametrize("where", ["here", "beside"])
def test_a_model_module_in_the_current_folder_or_beside_the_config_dir_needs_no_pythonpath(own_module_runs, where):
    cwd, proc = own_module_runs[where]
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary,) = cwd.glob("outputs/*/*/summary.json")
    assert json.loads(summary.read_text())["model_class"] == "mymodels.Net"


def test_a_model_module_found_nowhere_names_where_minitrain_looked_and_what_to_set(own_module_runs):
    cwd, proc = own_module_runs["nowhere"]
    assert proc.returncode == 2
    said = " ".join(proc.stderr.split())
    assert "model._target_=nosuchmodels.Net: no module 'nosuchmodels' was found" in said
    assert f"minitrain imports your own modules from {cwd}" in said and "PYTHONPATH" in said
    assert "Error getting class" not in said and "Traceback" not in said
    assert not (cwd / "outputs").exists()
