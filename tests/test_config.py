"""The composed config: every group option composes and builds, the schema rejects typos and wrong
types at composition, and values that compose but cannot train are refused before training."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException

from minitrain.callbacks import (
    CheckpointCallback,
    CSVLoggerCallback,
    ImagesCallback,
    LossPlotCallback,
    ProgressCallback,
    SummaryCallback,
)
from minitrain.cli import config_dir
from minitrain.errors import ConfigError
from minitrain.models import CNN, MLP, Autoencoder, ResNet
from minitrain.build import build, build_callbacks, build_model, named_callbacks
from minitrain.train import check_config

DATASETS = ["mnist", "fashion_mnist", "cifar10"]  # their shape is in the config
DATA_SHAPED = ["folder", "hub"]  # their shape comes from the data (tests/data/test_sources.py)
MODELS = {"mlp": MLP, "cnn": CNN, "resnet": ResNet, "autoencoder": Autoencoder, "autoencoder_lesson": Autoencoder}
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


GROUP_OPTIONS = sorted(
    (group.name, option.stem)
    for group in Path(config_dir()).iterdir() if group.is_dir() and group.name != "hydra"
    for option in group.glob("*.yaml")
)


def test_the_config_tree_has_the_documented_groups():
    assert {"dataset", "model", "optimizer"} <= {group for group, _ in GROUP_OPTIONS}
    assert {(g, o) for g, o in GROUP_OPTIONS if g in ("dataset", "model", "optimizer")} == {
        ("dataset", d) for d in DATASETS + DATA_SHAPED} | {("model", m) for m in MODELS} | {("optimizer", o) for o in OPTIMIZERS}


@pytest.mark.parametrize("group, option", GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_option_found_in_the_config_tree_composes_with_the_defaults(group, option, compose_config):
    cfg = compose_config(f"{group}={option}")
    assert group in cfg or group in ("experiment", "debug", "hparams_search")  # a preset is global: it sets keys of the other groups


@pytest.mark.slow  # 30 compositions and builds; the inner loop still composes every option (the test above)
@pytest.mark.parametrize("dataset, model, optimizer", list(itertools.product(DATASETS, MODELS, OPTIMIZERS)))
def test_every_option_of_every_group_composes_and_builds(dataset, model, optimizer, compose_config):
    cfg = compose_config(f"dataset={dataset}", f"model={model}", f"optimizer={optimizer}")
    assert cfg.dataset.name == dataset
    net = build_model(cfg.model)
    assert type(net) is MODELS[model]
    opt = build("optimizer", cfg.optimizer)(net.parameters())
    assert type(opt) is OPTIMIZERS[optimizer]
    assert opt.param_groups[0]["lr"] == cfg.optimizer.lr
    x = torch.rand(2, cfg.dataset.channels, cfg.dataset.image_size, cfg.dataset.image_size)
    expected = x.shape if model.startswith("autoencoder") else (2, cfg.dataset.num_classes)
    assert net(x).shape == expected


def test_defaults_are_fashion_mnist_a_cnn_and_adamw(compose_config):
    cfg = compose_config()
    assert (cfg.dataset.name, cfg.model._target_, cfg.optimizer._target_) == (
        "fashion_mnist", "minitrain.models.CNN", "torch.optim.AdamW")
    assert (cfg.trainer.epochs, cfg.loader.batch_size, cfg.loader.valid_batch_size, cfg.loader.num_workers) == (
        5, 64, None, 0)
    assert str(cfg.device) == "auto" and cfg.seed == 42


@pytest.mark.parametrize("model, task", [("mlp", "classification"), ("cnn", "classification"),
                                         ("resnet", "classification"), ("autoencoder", "reconstruction"),
                                         ("autoencoder_lesson", "reconstruction")])
def test_each_model_says_what_it_learns(model, task, compose_config):
    assert str(compose_config(f"model={model}").model.task) == task


def test_classifiers_take_the_number_of_classes_from_the_dataset(compose_config):
    for model in ("mlp", "cnn", "resnet"):
        cfg = compose_config(f"model={model}", "dataset.num_classes=4")
        assert build_model(cfg.model)(torch.rand(3, 1, 28, 28)).shape == (3, 4)


def test_optimizer_keys_reach_the_optimizer(compose_config):
    cfg = compose_config("optimizer=sgd", "optimizer.lr=0.05", "optimizer.momentum=0.9", "optimizer.weight_decay=0.01")
    group = build("optimizer", cfg.optimizer)([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.05, 0.9, 0.01)


def test_the_cache_dir_follows_minitrain_cache(tmp_path, monkeypatch, compose_config):
    monkeypatch.setenv("MINITRAIN_CACHE", str(tmp_path / "c"))
    assert compose_config().dataset.cache_dir == str(tmp_path / "c")


def test_the_default_callbacks_build_in_order_and_the_summary_names_the_model_choice(compose_config):
    cfg = compose_config("model=autoencoder", return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # what `${hydra:runtime.choices.model}` reads
    try:
        callbacks = named_callbacks(cfg.callbacks)
        loggers = named_callbacks(cfg.logger, "logger")
    finally:
        HydraConfig.instance().cfg = None
    assert [type(cb) for cb in callbacks] == [ProgressCallback, LossPlotCallback, ImagesCallback,
                                              CheckpointCallback, SummaryCallback]
    assert [type(cb) for cb in loggers] == [CSVLoggerCallback]  # logger=csv, the default: metrics.csv
    summary = callbacks[-1]
    assert (summary.model, summary.dataset) == ("autoencoder", "fashion_mnist")


def test_every_callback_of_a_run_comes_from_the_one_assembly_core_and_recipe_included(compose_config):
    cfg = compose_config("model=mlp", "augment=flip_crop", "trainer.precision=fp16", "trainer.grad_clip=1.0",
                         "trainer.tta_flip=true", "~callbacks.summary")
    names = [type(cb).__name__ for cb in build_callbacks(cfg)]
    assert names == ["InterruptCallback", "DeviceCallback", "MetricsCallback", "DivergenceCallback", "OneCycleCallback", "AugmentCallback",
                     "MixedPrecisionCallback", "GradClipCallback", "FlipTTACallback", "ProgressCallback",
                     "LossPlotCallback", "ImagesCallback", "CheckpointCallback", "CSVLoggerCallback"]


def test_no_callback_config_threads_the_task_by_hand(compose_config):
    # callbacks read the task from the Learner (learn.task), so no callback node repeats ${model.task}
    cfg = compose_config("augment=flip_crop_erase")
    assert all("task" not in node for node in cfg.callbacks.values()) and "task" not in cfg.augment


def test_the_lr_finder_runs_without_the_schedule(compose_config):
    names = [type(cb).__name__ for cb in build_callbacks(compose_config("model=mlp", "lr_find=true", "~callbacks.summary"))]
    assert "OneCycleCallback" not in names and "CheckpointCallback" in names  # it checkpoints nothing: no epoch ends


def test_a_callback_set_to_null_is_dropped_and_one_without_target_is_refused(compose_config):
    cfg = compose_config("model=mlp", "~callbacks.progress", "callbacks.images=null", "~callbacks.summary",
                         "~callbacks.checkpoint")
    assert [type(cb) for cb in named_callbacks(cfg.callbacks)] == [LossPlotCallback]
    bad = compose_config("+callbacks.mine.n=3", "~callbacks.summary", "~callbacks.images", "~callbacks.checkpoint")
    with pytest.raises(ConfigError, match=r"callbacks\.mine has no _target_"):
        named_callbacks(bad.callbacks)


def test_a_target_that_does_not_exist_is_a_config_error_naming_what_was_built(compose_config):
    cfg = compose_config("model=mlp", "model._target_=minitrain.models.Nope")
    with pytest.raises(ConfigError, match="Cannot build model"):
        build_model(cfg.model)


def test_an_unknown_key_fails_at_composition(compose_config):
    with pytest.raises(ConfigCompositionException, match="model.foo"):
        compose_config("model.foo=1")


def test_a_key_of_another_option_fails_at_composition(compose_config):
    with pytest.raises(ConfigCompositionException, match="optimizer.momentum"):
        compose_config("optimizer=adam", "optimizer.momentum=0.9")


def test_a_value_of_the_wrong_type_fails_at_composition(compose_config):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config("trainer.epochs=abc")
    assert "abc" in str(info.value) + str(info.value.__cause__)


def test_a_device_that_is_not_a_choice_fails_at_composition(compose_config):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config("device=gpu")
    assert "auto" in str(info.value.__cause__)


def test_an_unknown_group_option_fails_and_lists_the_available_ones(compose_config):
    with pytest.raises(MissingConfigException) as info:
        compose_config("model=nope")
    assert "model/nope" in str(info.value)
    assert all(name in str(info.value) for name in ("mlp", "cnn", "autoencoder"))


@pytest.mark.parametrize(
    "override, key",
    [("trainer.epochs=0", "trainer.epochs"), ("loader.batch_size=0", "loader.batch_size"),
     ("loader.valid_batch_size=0", "loader.valid_batch_size"), ("optimizer.lr=-1", "optimizer.lr"),
     ("optimizer.lr=0", "optimizer.lr"), ("loader.num_workers=-1", "loader.num_workers"),
     ("trainer.label_smoothing=1.0", "trainer.label_smoothing"), ("trainer.grad_clip=0", "trainer.grad_clip"),
     ("augment.crop_padding=-1", "augment.crop_padding"), ("augment.erase_p=2", "augment.erase_p"),
     ("lr_find=true resume=outputs/run", "lr_find"), ("dataset.valid_pct=0", "dataset.valid_pct"),
     ("dataset.valid_pct=1", "dataset.valid_pct")],
)
def test_values_that_compose_but_cannot_train_are_refused_naming_the_key(override, key, compose_config):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_config(compose_config(*override.split()))


def test_label_smoothing_is_refused_for_a_reconstruction(compose_config):
    with pytest.raises(ConfigError, match="classification only"):
        check_config(compose_config("model=autoencoder", "trainer.label_smoothing=0.1"))


def test_every_invalid_value_is_reported_at_once(compose_config):
    with pytest.raises(ConfigError) as info:
        check_config(compose_config("trainer.epochs=0", "loader.batch_size=0"))
    assert "trainer.epochs" in str(info.value) and "loader.batch_size" in str(info.value)


def test_the_default_config_passes_the_checks(compose_config):
    check_config(compose_config())


def test_flip_tta_without_flip_augmentation_is_doubted_with_the_reason_and_the_fix(compose_config):
    from minitrain.checks import doubtful_settings

    (warning,) = doubtful_settings(compose_config("experiment=fashion_fast", "augment=none"))
    assert "never shown mirrored images" in warning and "augment=flip or augment=flip_crop" in warning
    for flips in ("augment=flip", "augment=flip_crop", "augment=flip_crop_erase"):
        assert doubtful_settings(compose_config("trainer.tta_flip=true", flips)) == []
    assert doubtful_settings(compose_config("trainer.tta_flip=true", "augment=flip_crop", "augment.flip=false"))
    assert doubtful_settings(compose_config()) == []


def test_a_target_whose_module_is_nowhere_is_refused_before_the_run_naming_where_minitrain_looked(compose_config):
    with pytest.raises(ConfigError) as info:
        check_config(compose_config("model=mlp", "model._target_=nosuchmodels.Net"))
    said = str(info.value)
    assert "model._target_=nosuchmodels.Net: no module 'nosuchmodels' was found" in said
    assert "PYTHONPATH" in said and "nosuchmodels.py" in said
