"""A training command line composed before Hydra runs it: a misspelt key, group or option gets one line naming
the nearest real ones ("did you mean trainer.epochs?"), in place of Hydra's advice to add it with `+`.

Composing costs a fraction of a second and no torch; Hydra then composes the same command line again for the run.
"""

from __future__ import annotations

from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from minitrain.config import config_dir
from minitrain.errors import fail
from minitrain.hydra_adapter import (args_parser, compose, first_job, group_names, group_options, loaded_hydra,
                                     parse_override)
from minitrain.suggest import did_you_mean, nearest, nearest_keys


def check_composes(argv: list[str]) -> None:
    """Exit 2 with one line when the command line's overrides do not compose (for a sweep: its first job, an
    Optuna search's too, and every option it sweeps)."""
    args = args_parser().parse_args(argv)
    if args.shell_completion or args.experimental_rerun:
        return
    try:
        with loaded_hydra(config_dir(), args) as hydra:
            problem = composition_problem(hydra, args.config_name or "config", args.overrides, args.multirun)
    except HydraException as e:  # a -cd folder that does not exist
        problem = hydra_message(e)
    if problem:
        fail(problem)


def composition_problem(hydra, config_name: str, overrides: list[str], multirun: bool = False) -> str | None:
    """None when `overrides` compose; else why not: the overrides Hydra cannot read, the group options and keys that
    do not exist (with the nearest real ones), or Hydra's own message on one line."""
    parsed, problems = [], []
    for text in overrides:
        try:
            parsed.append(parse_override(text))
        except HydraException as e:
            problems.append(unreadable(text, e))
    problems = problems or [p for o in parsed if (p := option_problem(hydra, o))]
    if problems:
        return "; ".join(problems) + "."
    job = first_job(overrides) if multirun else overrides
    try:
        compose(hydra, config_name, overrides if job is None else job, multirun=multirun)
    except (HydraException, OmegaConfBaseException) as e:
        return key_problems(hydra, config_name, parsed) or hydra_message(e)
    return None


def key_problems(hydra, config_name: str, parsed: list[Override]) -> str | None:
    """The keys the overrides set or delete that the config (composed with their group options alone) lacks."""
    try:
        cfg = compose(hydra, config_name, [chosen(o) for o in parsed if group_options(hydra, o.key_or_group) is not None])
    except (HydraException, OmegaConfBaseException):
        return None
    problems = [p for o in parsed if (p := key_problem(hydra, cfg, o))]
    return "; ".join(problems) + "." if problems else None


def unreadable(text: str, error: HydraException) -> str:
    """An override Hydra's grammar cannot read, and how to write it."""
    if "~" in text.partition("=")[2]:
        return (f"{text}: Hydra cannot read a '~' inside a value; give the whole path, or quote the value "
                f"(\"{text.partition('=')[0]}='{text.partition('=')[2]}'\" in the shell)")
    return f"{text}: {hydra_message(error)}"


def chosen(override: Override) -> str:
    """A group override with one option: a sweep's first (`model=mlp,cnn` -> model=mlp)."""
    if override.is_sweep_override():
        return f"{override.get_key_element()}={next(iter(override.sweep_string_iterator()))}"
    return override.input_line


def option_problem(hydra, override: Override) -> str | None:
    """`model=cnnn`: the group has no such option; the nearest options, and every option it has."""
    options = group_options(hydra, override.key_or_group)
    if options is None or override.type == OverrideType.DEL:
        return None
    value = override.value()
    values = list(override.sweep_string_iterator()) if override.is_sweep_override() else \
        value if isinstance(value, list) else [value]
    missing = [str(v) for v in values if v is not None and str(v) not in options]
    if not missing:
        return None
    group = override.key_or_group
    close = [f"{group}={o}" for o in nearest(missing[0], options)]
    hint = f" ({did_you_mean(close)})" if close else ""
    return (f"{group}={missing[0]}: there is no {group}/{missing[0]}.yaml{hint}. The {group} options are: "
            f"{', '.join(options)}")


def key_problem(hydra, cfg: DictConfig, override: Override) -> str | None:
    """`trainer.epoch=3` or `~trainer.epoch`: a key the config does not have; the nearest keys it has."""
    key = override.key_or_group
    if override.type not in (OverrideType.CHANGE, OverrideType.DEL) or has_key(cfg, key):
        return None
    if group_options(hydra, key) is not None:  # a group (hydra/sweeper): its option was checked, it is no key
        return None
    in_hydra = key == "hydra" or key.startswith("hydra.")
    keys = dotted_keys(cfg.hydra, "hydra.") if in_hydra else [*dotted_keys(cfg, skip="hydra"), *group_names(hydra)]
    parent = key.rpartition(".")[0]
    parent = parent if parent and has_key(cfg, parent) else ""
    close = nearest_keys(key, keys)
    if close:
        hint = did_you_mean(close)
    else:
        node = OmegaConf.select(cfg, parent) if parent else cfg
        own = [str(k) for k in node.keys() if str(k) != "hydra"] if isinstance(node, DictConfig) else []
        hint = f"its keys: {', '.join(own)}; minitrain --help shows them all" if own else "minitrain --help shows every key"
    return f"{key} is not a setting of {parent or 'the config'} ({hint})"


def has_key(cfg: DictConfig, key: str) -> bool:
    """Whether the dotted `key` names a node of `cfg` (its value may be null or missing)."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return False
        node = node._get_node(part)
    return True


def dotted_keys(cfg: DictConfig, prefix: str = "", skip: str = "") -> list[str]:
    """Every key of `cfg` as a dotted path, nodes and leaves (`trainer`, `trainer.epochs`), but `skip`'s."""
    keys = []
    for k in cfg.keys():
        if str(k) == skip:
            continue
        keys.append(f"{prefix}{k}")
        node = cfg._get_node(k)
        if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
            keys += dotted_keys(node, f"{prefix}{k}.")
    return keys


def hydra_message(error: BaseException) -> str:
    """Hydra's (and OmegaConf's) message on one line, without the config search path it lists."""
    lines = []
    for line in str(error).removeprefix("Error merging override ").splitlines():  # "trainer.epochs=abc: Value ..."
        if line.strip().startswith(("Config search path", "Search path")):
            break
        if line.strip():
            lines.append(line.strip())
    text = " ".join(lines)
    cause = error.__cause__
    if isinstance(cause, OmegaConfBaseException) and str(cause).strip():
        text += f": {str(cause).strip().splitlines()[0]}"
    return text
