"""Mixed precision on the CPU, through the same code as on a GPU: bf16 autocast, and fp16 autocast with a grad
scaler that owns backward and step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.callbacks import AutocastCallback, DeviceCallback, GradClipCallback, MixedPrecisionCallback
from minitrain import forward
from minitrain.build import CALLBACK_GROUPS, RunContext
from minitrain.callbacks.files import precision_of
from minitrain.config import Precision
from minitrain.learner import Callback, DataLoaders, Learner


def batches(n: int = 8):
    """Learnable: the class is the largest of the first three inputs."""
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(16, 8, generator=g) for _ in range(n)]
    return [(x, x[:, :3].argmax(dim=1)) for x in xs]


class Watch(Callback):
    """Records the dtype of the predictions, the loss, and the gradients' norm where clipping reads it."""

    order = 1

    def __init__(self) -> None:
        self.dtypes, self.losses, self.norms = set(), [], []

    def after_loss(self, learn):
        self.dtypes.add(learn.preds.dtype)
        if learn.training:
            self.losses.append(learn.loss.item())

    def before_step(self, learn):
        self.norms.append(torch.nn.utils.get_total_norm([p.grad for p in learn.model.parameters()]).item())


def fit(*callbacks: Callback, epochs: int = 3) -> tuple[Learner, Watch]:
    torch.manual_seed(0)
    watch = Watch()
    data = batches()
    learn = Learner(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)), DataLoaders(data, data[:2]),
                    F.cross_entropy, 0.1, [*callbacks, watch])
    learn.fit(epochs)
    return learn, watch


@pytest.mark.parametrize("make, dtype", [(lambda: AutocastCallback(torch.bfloat16), torch.bfloat16),
                                         (MixedPrecisionCallback, torch.float16)], ids=["bf16", "fp16"])
def test_the_forward_pass_runs_in_low_precision_and_the_model_still_learns(make, dtype):
    learn, watch = fit(make())
    assert watch.dtypes == {dtype}
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())
    assert sum(watch.losses[-4:]) / 4 < 0.8 * watch.losses[0]


def test_fp16_scales_the_loss_and_unscales_the_gradients_before_anyone_reads_them():
    fp16 = MixedPrecisionCallback()
    _, scaled = fit(fp16, epochs=1)
    _, plain = fit(AutocastCallback(torch.float16), epochs=1)
    assert fp16.scaler.get_scale() > 1000  # the loss was multiplied before backward
    # clipping (before_step) sees the true gradients: the same norms as without a scaler, not scale x larger
    assert scaled.norms == pytest.approx(plain.norms, rel=1e-2)


def test_fp16_skips_a_step_whose_gradients_overflowed_and_lowers_the_scale():
    class Overflow(Callback):
        order = -1

        def after_loss(self, learn):
            if learn.training and learn.iter == 0:
                learn.loss = learn.loss * float("inf")

    seen = {}

    class Snap(Callback):
        def before_step(self, learn):
            if learn.iter == 0:
                seen["before"] = [p.detach().clone() for p in learn.model.parameters()]

        def after_step(self, learn):
            if learn.iter == 0:
                seen["after"] = [p.detach().clone() for p in learn.model.parameters()]

    fp16 = MixedPrecisionCallback()
    learn, _ = fit(fp16, Overflow(), Snap(), GradClipCallback(1.0), epochs=1)
    assert all(torch.equal(a, b) for a, b in zip(seen["before"], seen["after"]))  # the step was skipped
    assert fp16.scaler.get_scale() < 2.0**16  # halved by the overflow (and grown back at most after 2000 steps)
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())


@pytest.mark.gpu
@pytest.mark.parametrize("make, dtype", [(lambda: AutocastCallback(torch.bfloat16), torch.bfloat16),
                                         (MixedPrecisionCallback, torch.float16)], ids=["bf16", "fp16"])
def test_on_a_gpu_mixed_precision_trains_on_the_device(make, dtype):
    learn, watch = fit(DeviceCallback("cuda"), make())
    assert watch.dtypes == {dtype} and next(learn.model.parameters()).is_cuda
    assert sum(watch.losses[-4:]) / 4 < 0.8 * watch.losses[0]


@pytest.mark.parametrize("fast", [True, False])
def test_bf16_on_a_cpu_without_native_bfloat16_says_fp32_is_faster(fast, monkeypatch, caplog):
    from minitrain.callbacks import precision

    monkeypatch.setattr(precision, "has_native_bf16", lambda device: fast)
    fit(AutocastCallback(torch.bfloat16), epochs=1)
    warned = [r.getMessage() for r in caplog.records if "trainer.precision=fp32" in r.getMessage()]
    assert len(warned) == (0 if fast else 1)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN")
def test_torch_still_has_the_private_check_that_has_native_bf16_asks():
    # has_native_bf16 falls back to "yes" when the op is missing: this fails instead when a torch upgrade drops it
    assert torch.ops.mkldnn._is_mkldnn_bf16_supported() in (True, False)


@pytest.mark.parametrize("native", [True, False])
def test_a_gpu_that_only_emulates_bfloat16_is_told_apart_from_one_that_has_it(native, monkeypatch):
    from minitrain import device

    # torch.cuda.is_bf16_supported() says yes to emulation too (a T4); only including_emulation=False tells them apart
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native or including_emulation)
    assert device.has_native_bf16(torch.device("cuda")) is native


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "emulated-bf16"])
def test_auto_precision_autocasts_to_bf16_only_where_the_device_computes_it_natively(native, monkeypatch, compose_config):
    monkeypatch.setattr(forward, "has_native_bf16", lambda device: native)
    cfg = compose_config("trainer.precision=auto")
    built = CALLBACK_GROUPS["precision"](cfg, RunContext(torch.device("cpu")))
    assert [type(cb) for cb in built] == ([AutocastCallback] if native else [])
    if native:
        assert built[0].dtype == torch.bfloat16
    assert forward.autocast_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if native else None)


def test_auto_precision_is_fp32_on_a_device_without_a_question_to_ask(monkeypatch):
    monkeypatch.setattr(forward, "has_native_bf16", lambda device: True)
    assert forward.resolve_precision("auto", torch.device("mps")) is Precision.fp32
    assert forward.resolve_precision("bf16", torch.device("mps")) is Precision.bf16  # a name given is kept


@pytest.mark.parametrize("make, name", [(lambda: [], "fp32"), (lambda: [AutocastCallback(torch.bfloat16)], "bf16"),
                                        (lambda: [MixedPrecisionCallback()], "fp16")])
def test_the_summary_records_the_precision_that_ran(make, name):
    learn, _ = fit(*make(), epochs=1)
    assert precision_of(learn) == name
