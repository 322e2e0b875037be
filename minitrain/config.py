"""Structured-config schemas: the typed shape of every config group, registered in Hydra's ConfigStore.

They live in one light module (no torch import) so that `minitrain --help` and config
composition stay fast; the YAML files under `configs/` fill them in and carry the comments.
"""

from dataclasses import dataclass, field
from pathlib import Path
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from minitrain.search import direction


class _Choice(str, Enum):
    """A string choice that prints as its value (`cpu`, not `Device.cpu`)."""

    def __str__(self) -> str:
        return self.value


class Device(_Choice):
    """Where to train; `auto` picks cuda, then mps, then cpu."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(_Choice):
    """The forward pass's number format: float32, or bfloat16 / float16 autocast (float16 adds a grad scaler);
    `auto` is bfloat16 where the training device computes it natively, float32 elsewhere."""

    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Task(_Choice):
    """What the model learns: class labels, or to reproduce its own input."""

    classification = "classification"
    reconstruction = "reconstruction"


class Activation(_Choice):
    """The built-in models' activation: ReLU, or the course's GeneralRelu (model.leak, model.sub, model.maxv)."""

    relu = "relu"
    general_relu = "general_relu"


class Init(_Choice):
    """How a built-in model's weights start: its own init, Kaiming normal, or LSUV on the first training batch."""

    default = "default"
    kaiming = "kaiming"
    lsuv = "lsuv"


@dataclass
class DatasetConfig:
    # None (null) in name, classes, num_classes, channels and image_size means "from the data":
    # minitrain.data.shaped_config fills in the decoded data's values before the model is built.
    name: Optional[str] = None
    hub_id: Optional[str] = None
    path: Optional[str] = None
    system_path: Optional[str] = None
    classes: Optional[List[str]] = None
    num_classes: Optional[int] = None
    channels: Optional[int] = None
    image_size: Optional[int] = None
    image_column: Optional[str] = None
    label_column: Optional[str] = None
    train_split: str = "train"
    valid_split: Optional[str] = "test"
    valid_pct: Optional[float] = 0.2  # held out of the training split when the source has no validation split
    cache_dir: str = MISSING


@dataclass
class ModelConfig:
    _target_: str = MISSING
    task: Task = Task.classification
    act: Activation = Activation.relu
    leak: Optional[float] = 0.1  # leak, sub, maxv: GeneralRelu's, used with act=general_relu only
    sub: Optional[float] = 0.4
    maxv: Optional[float] = None
    init: Init = Init.default  # applied after the model is built (minitrain.models.init), not a model argument


@dataclass
class MLPConfig(ModelConfig):
    in_channels: Optional[int] = 1  # Optional: `${dataset.channels}` is null until the data fills it in
    image_size: Optional[int] = 28
    hidden: int = 50
    num_classes: Optional[int] = 10


@dataclass
class CNNConfig(ModelConfig):
    in_channels: Optional[int] = 1
    channels: List[int] = field(default_factory=lambda: [4, 8, 16, 16])
    num_classes: Optional[int] = 10
    batch_norm: bool = False
    stem: int = 0


@dataclass
class AutoencoderConfig(ModelConfig):
    in_channels: Optional[int] = 1
    image_size: Optional[int] = 28
    channels: List[int] = field(default_factory=lambda: [32, 64, 8])
    task: Task = Task.reconstruction


@dataclass
class ResNetConfig(ModelConfig):
    in_channels: Optional[int] = 1
    channels: List[int] = field(default_factory=lambda: [16, 32, 64])
    depth: int = 1
    num_classes: Optional[int] = 10


@dataclass
class OptimizerConfig:
    _target_: str = MISSING
    _partial_: bool = True
    lr: float = MISSING
    weight_decay: float = 0.0


@dataclass
class SGDConfig(OptimizerConfig):
    momentum: float = 0.0


@dataclass
class AdamConfig(OptimizerConfig):
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8


@dataclass
class SchedulerConfig:
    _target_: Optional[str] = None  # None: keep the optimizer's learning rate throughout


@dataclass
class OneCycleConfig(SchedulerConfig):
    pct_start: float = 0.25
    div_factor: float = 25.0
    final_div_factor: float = 1e4


@dataclass
class CosineConfig(SchedulerConfig):
    warmup_pct: float = 0.05
    eta_min_ratio: float = 0.0


@dataclass
class AugmentConfig:
    _target_: Optional[str] = None  # None: train on the images as they are
    flip: bool = False
    crop_padding: int = 0
    erase_p: float = 0.0


@dataclass
class InspectConfig:
    _target_: Optional[str] = None  # None: no hooks on the model
    bins: int = 40
    max_value: float = 10.0
    every: int = 1


@dataclass
class TrainerConfig:
    epochs: int = 5
    deterministic: bool = False
    precision: Precision = Precision.fp32
    channels_last: bool = False
    compile: bool = False
    label_smoothing: float = 0.0
    grad_clip: Optional[float] = None
    tta_flip: bool = False
    ema: Optional[float] = None
    early_stop_patience: Optional[int] = None
    limit_batches: Optional[int] = None
    overfit_batches: int = 0
    detect_anomaly: bool = False


@dataclass
class LoaderConfig:
    batch_size: int = 64
    valid_batch_size: Optional[int] = None
    num_workers: int = 0
    on_device: str = "auto"  # auto | true | false (a str: Hydra reads `true` as a bool, which an Enum refuses)


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    # model and optimizer are open: an option that names a schema in its defaults list (every built-in one
    # does) is typed by it; a user's own option (any class, its own keys) is not, and trains as written.
    model: Any = field(default_factory=lambda: {"task": "classification"})
    optimizer: Any = field(default_factory=lambda: {"_partial_": True})
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    inspect: InspectConfig = field(default_factory=InspectConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    callbacks: Dict[str, Any] = field(default_factory=dict)
    logger: Dict[str, Any] = field(default_factory=dict)
    device: Device = Device.auto
    seed: int = 42
    resume: Optional[str] = None
    lr_find: bool = False
    optimized_metric: Optional[str] = None


def config_dir() -> str:
    """The config tree: packaged beside the code in a wheel, at the repository root in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "configs"
    return str(packaged if packaged.is_dir() else here.parent / "configs")


def register_configs() -> None:
    """Make the schemas available to the YAML files' defaults lists (`- /schema/...`), and the
    `minitrain.direction` resolver to an Optuna search (minitrain/search.py)."""
    OmegaConf.register_new_resolver("minitrain.direction", direction, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="schema", name="dataset", node=DatasetConfig)
    for name, node in {"mlp": MLPConfig, "cnn": CNNConfig, "autoencoder": AutoencoderConfig,
                       "resnet": ResNetConfig}.items():
        cs.store(group="schema/model", name=name, node=node)
    for name, node in {"sgd": SGDConfig, "adam": AdamConfig}.items():
        cs.store(group="schema/optimizer", name=name, node=node)
    for name, node in {"none": SchedulerConfig, "onecycle": OneCycleConfig, "cosine": CosineConfig}.items():
        cs.store(group="schema/scheduler", name=name, node=node)
    cs.store(group="schema", name="augment", node=AugmentConfig)
    cs.store(group="schema", name="inspect", node=InspectConfig)
