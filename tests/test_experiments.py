"""The experiment presets (`minitrain experiment=NAME`): each says what it reproduces and how, composes,
builds everything it names, and trains end to end; the command line still overrides a preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from minitrain.callbacks import AugmentCallback, OneCycleCallback
from minitrain.cli import config_dir
from minitrain.device import has_native_bf16
from minitrain.build import CALLBACK_GROUPS, RunContext, build, build_model
from minitrain.models import CNN, Autoencoder, ResNet
from minitrain.train import check_config

PRESETS = {
    "fashion_fast": CNN,
    "fashion_cnn_wide": CNN,
    "fashion_cnn_onecycle": CNN,
    "fashion_cnn_bn": CNN,
    "fashion_resnet_long": ResNet,
    "fashion_5ep": ResNet,
    "fashion_20ep": ResNet,
    "autoencoder_sharp": Autoencoder,
    "autoencoder_wide": Autoencoder,
    "cifar10_resnet": ResNet,
}
MOST_EPOCHS = {"fashion_cnn_wide": 20, "fashion_20ep": 20, "fashion_resnet_long": 25, "cifar10_resnet": 20}


def recipe_callbacks(cfg) -> list:
    """The callbacks of the recipe's optional groups: augmentation, precision, clipping, flipped validation."""
    groups = ("augment", "precision", "grad_clip", "tta_flip")
    return [cb for group in groups for cb in CALLBACK_GROUPS[group](cfg, RunContext(torch.device("cpu")))]


def test_the_experiment_folder_holds_the_documented_presets():
    assert {p.stem for p in (Path(config_dir()) / "experiment").glob("*.yaml")} == set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_file_is_global_and_says_how_to_reproduce_it(name):
    text = (Path(config_dir()) / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert f"# Reproduce: minitrain experiment={name}\n" in text


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_composes_passes_the_checks_and_builds_its_model_optimizer_and_callbacks(name, compose_config):
    cfg = compose_config(f"experiment={name}")
    check_config(cfg)
    model = build_model(cfg.model)
    assert type(model) is PRESETS[name]
    opt = build("optimizer", cfg.optimizer)(model.parameters())
    assert isinstance(opt, torch.optim.AdamW) and isinstance(build("scheduler", cfg.scheduler), OneCycleCallback)
    assert cfg.trainer.epochs <= MOST_EPOCHS.get(name, 10)
    callbacks = recipe_callbacks(cfg)
    assert all(cb.order > -20 for cb in callbacks)  # after the device move
    if cfg.augment._target_:
        assert any(isinstance(cb, AugmentCallback) for cb in callbacks)
    x = torch.rand(2, cfg.dataset.channels, cfg.dataset.image_size, cfg.dataset.image_size)
    out = model(x)
    assert out.shape == (x.shape if str(cfg.model.task) == "reconstruction" else (2, 10))


@pytest.mark.parametrize("name, epochs", [("fashion_5ep", 5), ("fashion_20ep", 20)])
def test_a_per_epoch_preset_trains_the_epochs_its_name_says_on_the_flips_it_validates_on(name, epochs, compose_config):
    cfg = compose_config(f"experiment={name}")
    assert cfg.trainer.epochs == epochs and not cfg.trainer.limit_batches  # every image, every epoch: the course's count
    assert cfg.trainer.tta_flip and cfg.augment.flip and cfg.dataset.name == "fashion_mnist"


def test_fashion_20ep_is_fashion_5ep_wider_with_one_pixel_shifts(compose_config):
    five, twenty = compose_config("experiment=fashion_5ep"), compose_config("experiment=fashion_20ep")
    assert (five.augment.crop_padding, twenty.augment.crop_padding) == (0, 1)
    assert list(twenty.model.channels) == [64, 128, 256] and twenty.model.depth == five.model.depth
    assert all(twenty[key] == five[key] for key in ("dataset", "optimizer", "scheduler", "loader"))
    assert {k: v for k, v in twenty.trainer.items() if k != "epochs"} == \
        {k: v for k, v in five.trainer.items() if k != "epochs"}


def test_fashion_cnn_onecycle_keeps_the_lessons_architecture(compose_config):
    model = build_model(compose_config("experiment=fashion_cnn_onecycle").model)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in CNN([4, 8, 16, 16]).parameters())


def test_the_cpu_ladders_middle_rung_is_fashion_fasts_earlier_recipe_wider_longer_and_augmented(compose_config):
    fast, wide = compose_config("experiment=fashion_fast"), compose_config("experiment=fashion_cnn_wide")
    assert (fast.trainer.precision, fast.trainer.channels_last, str(fast.loader.on_device).lower(), fast.loader.batch_size) == \
        ("auto", True, "true", 512)  # bf16 where the CPU has it natively, fp32 where it would be emulated
    assert wide.trainer.epochs > fast.trainer.epochs and list(wide.model.channels) == [2 * c for c in fast.model.channels]
    # both mirror images in training and validation; the wider, longer run shifts them too
    assert (fast.augment.flip, fast.trainer.tta_flip, wide.augment.flip, wide.trainer.tta_flip) == (True,) * 4
    assert fast.augment.crop_padding == 0 < wide.augment.crop_padding
    assert all(wide[key] == fast[key] for key in ("scheduler", "loader"))
    # the same optimizer but for its peak and betas: the wider run keeps the recipe it was measured with (no stem,
    # AdamW's default betas), which fashion_fast left for a full-size stem and a faster-forgetting beta2
    same = lambda opt: {k: v for k, v in opt.items() if k not in ("lr", "betas")}  # noqa: E731
    assert same(wide.optimizer) == same(fast.optimizer)
    assert (list(fast.optimizer.betas), list(wide.optimizer.betas)) == ([0.9, 0.95], [0.9, 0.999])
    assert (fast.model.stem, wide.model.stem) == (12, 0)
    # the peaks each was measured with: wide's at twice the 0.01 of fashion_fast's earlier recipe
    assert (fast.optimizer.lr, wide.optimizer.lr, fast.trainer.epochs) == (0.015, 0.02, 7)
    assert wide.trainer.precision == fast.trainer.precision and wide.trainer.channels_last


def test_the_autoencoder_presets_keep_a_4x4_latent_and_sharp_keeps_the_lessons_depth_of_8(compose_config):
    assert compose_config("experiment=autoencoder_sharp").model.channels[-1] == 8
    assert compose_config("experiment=autoencoder_wide").model.channels[-1] > 8


def test_the_command_line_overrides_a_preset(compose_config):
    cfg = compose_config("experiment=fashion_resnet_long", "trainer.epochs=1", "model.depth=3", "augment=none")
    assert (cfg.trainer.epochs, cfg.model.depth, cfg.augment._target_) == (1, 3, None)


def test_without_a_preset_nothing_is_augmented_smoothed_clipped_or_averaged(compose_config):
    cfg = compose_config()
    assert recipe_callbacks(cfg) == [] and cfg.trainer.label_smoothing == 0 and not cfg.lr_find


@pytest.fixture(scope="module")
def preset_runs(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """A ResNet preset (with clipping and flipped validation), an augmented autoencoder preset and the CIFAR-10
    preset (on generated 32x32 colour images in the hub's parquet layout: no real copy here), one epoch each."""
    base = tmp_path_factory.mktemp("presets")
    cifar = fakes.write_hub_parquet(base / "cifar10-copy", fakes.make_colour_data(n_train=120, n_test=40, size=32))
    idx = f"dataset.path={dataset_dirs['idx']}"
    small = {"resnet": ["experiment=fashion_resnet_long", "model.channels=[4,8]", "model.depth=1", "trainer.tta_flip=true",
                        "trainer.grad_clip=1.0", idx],
             "fast": ["experiment=fashion_fast", "model.channels=[4,8,8,8]", idx],  # bf16, channels-last, in memory
             "autoencoder": ["experiment=autoencoder_sharp", "model.channels=[4,8,8]", "augment=flip_crop", idx],
             "cifar10": ["experiment=cifar10_resnet", "model.channels=[4,8]", "model.depth=1", "loader.batch_size=32",
                         f"dataset.path={cifar}"]}
    common = ["trainer.epochs=1", "callbacks.images.n_images=12"]
    done = run_cli_many({name: (base / name, [*args, *common, f"hydra.run.dir={base / name / 'run'}"], {})
                         for name, args in small.items()})
    return {name: (base / name / "run", proc) for name, proc in done.items()}


@pytest.mark.parametrize("name, metric", [("resnet", "valid_accuracy"), ("fast", "valid_accuracy"), ("autoencoder", "valid_psnr"),
                                          ("cifar10", "valid_accuracy")])
def test_a_preset_trains_end_to_end_on_tiny_data(name, metric, preset_runs):
    run_dir, proc = preset_runs[name]
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and metric in summary["final"]
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_a_cpu_preset_runs_bf16_only_where_this_cpu_has_it_and_records_what_ran(preset_runs):
    summary = json.loads((preset_runs["fast"][0] / "summary.json").read_text())  # fashion_fast: precision=auto
    assert summary["precision"] == ("bf16" if has_native_bf16(torch.device("cpu")) else "fp32")
    assert f"trainer.precision=auto: {summary['precision']} on this CPU" in preset_runs["fast"][1].stderr
