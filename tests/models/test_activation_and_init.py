"""model.act (ReLU or the course's GeneralRelu) and model.init (the model's own, Kaiming normal, LSUV on one
batch) for every built-in model, from Python and from the config."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from hydra.errors import ConfigCompositionException
from torch import nn

from minitrain.build import build_model
from minitrain.hooks import Hooks, layers_of
from minitrain.models import CNN, MLP, Autoencoder, ResNet
from minitrain.models.activation import GeneralRelu, activation
from minitrain.models.init import initialize, initialize_as_configured, kaiming_init, lsuv_init

X = torch.rand(16, 1, 28, 28)
MODELS = {"mlp": MLP, "cnn": CNN, "resnet": ResNet, "autoencoder": Autoencoder}
WEIGHTED = (nn.Conv2d, nn.Linear)


def output_stats(model: nn.Module, x: torch.Tensor) -> list[tuple[float, float]]:
    """(mean, std) of every conv and linear layer's output on `x`."""
    def keep(hook, module, inputs, output):
        hook.stats = (output.mean().item(), output.std().item())

    was_training = model.training
    with Hooks([m for _, m in layers_of(model, WEIGHTED)], keep) as hooks, torch.no_grad():
        model.eval()(x)  # BatchNorm as LSUV runs it: with its running statistics
    model.train(was_training)
    return [h.stats for h in hooks]


def test_general_relu_leaks_shifts_and_clamps_as_the_courses():
    x = torch.tensor([-2.0, -0.5, 0.0, 1.0, 9.0])
    assert torch.allclose(GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)(x), torch.tensor([-0.6, -0.45, -0.4, 0.6, 6.0]))
    assert torch.equal(GeneralRelu()(x), F.relu(x))  # nothing set: a plain ReLU


def test_activation_names_relu_or_general_relu_and_refuses_others():
    assert activation("relu") is nn.ReLU
    made = activation("general_relu", 0.1, 0.4, None)()
    assert isinstance(made, GeneralRelu) and (made.leak, made.sub, made.maxv) == (0.1, 0.4, None)
    with pytest.raises(ValueError, match="model.act=gelu must be one of relu, general_relu"):
        activation("gelu")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_built_in_model_takes_general_relu_in_place_of_each_relu(name):
    plain, general = MODELS[name](), MODELS[name](act="general_relu", leak=0.1, sub=0.4, maxv=6.0)
    relus = sum(isinstance(m, nn.ReLU) for m in plain.modules())
    assert relus > 0 and not any(isinstance(m, nn.ReLU) for m in general.modules())
    assert sum(isinstance(m, GeneralRelu) for m in general.modules()) == relus
    assert general(X).shape == plain(X).shape
    assert plain.state_dict().keys() == general.state_dict().keys()  # no parameters added: checkpoints still load


def test_kaiming_init_gives_each_layer_the_std_of_its_fan_in_and_slope():
    torch.manual_seed(0)
    model = MLP(hidden=400)
    kaiming_init(model, leak=0.1)
    first = model[1].weight
    assert first.std().item() == pytest.approx(math.sqrt(2 / (1.01 * 784)), rel=0.02)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_lsuv_leaves_every_layer_with_outputs_of_mean_0_and_std_1_on_the_batch(name):
    torch.manual_seed(0)
    model = MODELS[name](act="general_relu", leak=0.1, sub=0.4)
    before = output_stats(model, X)
    lsuv_init(model, X)
    after = output_stats(model, X)
    assert any(abs(std - 1) > 0.1 for _, std in before)  # the default init does not give this already
    for (mean, std), (_, layer) in zip(after, layers_of(model, WEIGHTED)):
        assert std == pytest.approx(1, abs=2e-3)
        if layer.bias is not None:  # a conv before a BatchNorm has no bias to centre with
            assert mean == pytest.approx(0, abs=2e-3)
    assert model.training  # the mode it was in


def test_initialize_runs_lsuv_on_the_first_training_batch_and_refuses_an_unknown_init():
    torch.manual_seed(0)
    model = CNN()
    initialize(model, "lsuv", SimpleNamespace(train=[(X, torch.zeros(16, dtype=torch.long))]))
    assert all(std == pytest.approx(1, abs=2e-3) for _, std in output_stats(model, X))
    with pytest.raises(ValueError, match="model.init=xavier must be one of default, kaiming, lsuv"):
        initialize(model, "xavier")


def test_default_init_keeps_the_models_own_weights():
    model = ResNet()
    before = [p.clone() for p in model.parameters()]
    initialize_as_configured(model, {"act": "relu"}, dls=None)  # a config without `init`: a user's own model's
    initialize(model, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_model_act_and_init_compose_and_build_for_each_model(compose_config):
    for name, cls in MODELS.items():
        cfg = compose_config(f"model={name}", "model.act=general_relu", "model.maxv=6", "model.init=lsuv")
        assert (cfg.model.act, cfg.model.leak, cfg.model.sub, cfg.model.maxv, cfg.model.init) == \
            ("general_relu", 0.1, 0.4, 6.0, "lsuv")
        model = build_model(cfg.model)
        assert isinstance(model, cls)
        assert {(m.leak, m.sub, m.maxv) for m in model.modules() if isinstance(m, GeneralRelu)} == {(0.1, 0.4, 6.0)}


@pytest.mark.parametrize("override", ["model.act=gelu", "model.init=xavier"])
def test_an_unknown_activation_or_init_fails_at_composition(compose_config, override):
    with pytest.raises(ConfigCompositionException, match=override.split("=")[0]):
        compose_config(override)


def test_minitrain_trains_with_general_relu_and_lsuv(tmp_path, dataset_dirs, fakes, run_cli):
    run_dir = tmp_path / "run"
    proc = run_cli(tmp_path, *fakes.tiny, "model=cnn", "model.act=general_relu", "model.init=lsuv",
                   f"dataset.path={dataset_dirs['idx']}", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert float(rows[-1]["valid_accuracy"]) > 0.2  # ten classes: it learned something in one epoch
