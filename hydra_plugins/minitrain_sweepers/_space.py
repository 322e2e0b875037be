"""The search space: Hydra's sweep syntax (choice, range, interval, tag(log, ...)) as Optuna's distributions, and
a trial's values back as the overrides of its job."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from minitrain.errors import ConfigError
from minitrain.overrides import quoted


@dataclass
class Space:
    """What the trials search (key -> distribution) and the overrides every job gets as they are."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)  # key -> the override as it was written


def parse(arguments: list[str]) -> Space:
    """The space that `arguments` (hydra.sweeper.params first, then the command line's overrides) describe; a
    later argument for a key replaces an earlier one, so the command line fixes or changes a preset's search."""
    space = Space()
    parser = OverridesParser.create()
    for argument in arguments:
        override = parser.parse_override(argument)
        key = override.get_key_element()
        space.distributions.pop(key, None)
        space.fixed.pop(key, None)
        if override.is_sweep_override():
            space.distributions[key] = distribution(override, argument)
        else:
            space.fixed[key] = argument
    return space


def distribution(override: Override, argument: str) -> BaseDistribution:
    """One sweep override as a distribution: choice(...) categorical, range(...) stepped, interval(...) continuous
    (on a log scale when tagged log); integers when the bounds are."""
    if override.is_choice_sweep() or (override.is_range_sweep() and override.value().shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if override.is_range_sweep():
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(f"{argument}: the range holds no value; give start < stop (e.g. range(1,5)).")
        step = abs(override.value().step)
        kind = IntDistribution if all(isinstance(v, int) for v in (*values, step)) else FloatDistribution
        return kind(min(values), max(values), step=step) if len(values) > 1 else CategoricalDistribution(values)
    if override.is_interval_sweep():
        interval = override.value()
        log = "log" in interval.tags
        if log and interval.start <= 0:
            raise ConfigError(f"{argument}: a log scale needs bounds above 0.")
        if isinstance(interval.start, int) and isinstance(interval.end, int):
            return IntDistribution(interval.start, interval.end, log=log)
        return FloatDistribution(float(interval.start), float(interval.end), log=log)
    raise ConfigError(f"{argument}: an Optuna search takes choice(...), range(...) or interval(...) here.")


def grid(space: Space) -> dict[str, list]:
    """Every value of each parameter, for hydra/sweeper/sampler=grid (which needs them countable)."""
    values = {}
    for key, dist in space.distributions.items():
        if isinstance(dist, CategoricalDistribution):
            values[key] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            values[key] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            n = round((dist.high - dist.low) / dist.step)
            values[key] = [dist.low + i * dist.step for i in range(n + 1)]
        else:
            raise ConfigError(f"hydra/sweeper/sampler=grid tries every value, and {key} is a continuous interval: "
                              f"give {key}=choice(...) or range(...), or use the tpe or random sampler.")
    return values


def overrides(params: dict, space: Space) -> list[str]:
    """A trial's values as its job's overrides, then the fixed ones."""
    return [f"{key}={_text(value)}" for key, value in params.items()] + list(space.fixed.values())


def _text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and not re.fullmatch(r"[\w./:+-]+", value):
        return quoted(value)  # spaces, commas, brackets: read back as this one string
    return str(value)
