"""Optuna's figures of a finished study, as PNG files in the sweep directory: how the best value improved, which
parameters mattered, every trial's epochs (pruned ones dashed) and each parameter against the value."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib
import optuna
from matplotlib.ticker import MaxNLocator
from optuna.trial import TrialState
from optuna.visualization import matplotlib as plots

from minitrain.reports.figures import log_x, save_figure  # figures.py also puts matplotlib on its file-only backend

log = logging.getLogger(__name__)


def history(study: optuna.Study, value: str):
    """Each trial's value, and the best so far."""
    ax = plots.plot_optimization_history(study, target_name=value)
    _title(ax, f"Optimization history: {value} of each completed trial")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def importances(study: optuna.Study, value: str):
    """How much each parameter decided the value (Optuna's PED-ANOVA)."""
    ax = plots.plot_param_importances(study, target_name=value)
    _title(ax, f"Parameter importances for {value}")
    ax.set_ylabel("")
    ax.set_xlabel("importance (they add up to 1)")
    if ax.get_legend() is not None:
        ax.get_legend().remove()  # it only repeated the value's name
    return ax


def intermediate(study: optuna.Study, value: str):
    """Every trial's value epoch by epoch, as its job reported it; pruned trials dashed, where they stopped."""
    ax = plots.plot_intermediate_values(study)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    for line in ax.get_lines():
        number = int(line.get_label().removeprefix("Trial")) if line.get_label().startswith("Trial") else None
        if number is not None:
            pruned = states.get(number) == TrialState.PRUNED
            line.set_label(f"trial {number}" + (", pruned" if pruned else ""))
            line.set_linestyle("--" if pruned else "-")
            line.set_marker("x" if pruned else "o")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, ncol=1 + len(ax.get_lines()) // 25)
    _title(ax, f"{value} after each epoch (dashed, x: pruned)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(value)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def slices(study: optuna.Study, value: str):
    """The value against each parameter, one panel per parameter, coloured by trial."""
    axes = plots.plot_slice(study, target_name=value)
    panels = list(getattr(axes, "flat", [axes]))
    for ax in panels:
        if ax.get_xscale() == "log":
            log_x(ax, ax.get_xlim())  # plain numbers, never crowded
        _title(ax, "")
    figure = panels[0].get_figure()
    figure.suptitle(f"{value} against each parameter (completed trials)")
    figure.set_size_inches(max(8.0, 4.5 * len(panels) + 1.5), 4.5)  # the colour bar of trial numbers on the right
    return axes


# file -> how it is drawn, from Optuna's own matplotlib figures
PICTURES: dict[str, Callable] = {
    "optuna_history.png": history,
    "optuna_importances.png": importances,
    "optuna_intermediate.png": intermediate,
    "optuna_slice.png": slices,
}


def write(study: optuna.Study, sweep_dir: Path, value: str) -> list[Path]:
    """Draw every picture the study has enough trials for (`value`: what the trials optimise, for the labels); a
    picture that cannot be drawn is skipped, saying why."""
    written = []
    for name, plot in PICTURES.items():
        with matplotlib.rc_context(), warnings.catch_warnings():  # Optuna sets pyplot's ggplot style: not for others
            warnings.simplefilter("ignore")  # Optuna's "experimental" notes, and importances of too few trials
            try:
                axes = plot(study, value)
            except (ValueError, RuntimeError) as e:  # e.g. importances need two completed trials
                log.info("No %s: %s", name, " ".join(str(e).split()))
                continue
            figure = _figure(axes)
            readable(figure)
            save_figure(figure, sweep_dir / name)
            _close(figure)
        written.append(sweep_dir / name)
    return written


def _figure(axes):
    """The figure that Optuna's axes (one Axes, or an array of them: one per parameter) are drawn on."""
    return (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()


def _title(ax, text: str) -> None:
    """`text` as the panel's one title (Optuna puts its own on the left)."""
    for where in ("left", "right"):
        ax.set_title("", loc=where)
    ax.set_title(text)


def readable(figure) -> None:
    """Large enough to read: at least 8 x 4.5 inches (one-panel figures are laid out again to fit)."""
    width, height = figure.get_size_inches()
    figure.set_size_inches(max(width, 8.0), max(height, 4.5))
    if len(figure.axes) == 1:
        figure.tight_layout()


def _close(figure) -> None:
    import matplotlib.pyplot as plt  # Optuna draws through pyplot, which keeps every figure open until closed

    plt.close(figure)
