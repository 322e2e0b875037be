"""A training command line with a misspelt key, group, option or command word: one line naming the nearest real
ones, exit 2, no traceback, no Hydra advice to add the typo with `+`, and no run directory; a `~` in a path works."""

from __future__ import annotations

import pytest

from minitrain.overrides import bare_words, expand_home
from minitrain.suggest import did_you_mean, nearest_keys

# The new user's first typos (issue 25), each with what the answer must name
TYPOS = {
    "a-misspelt-key": (["trainer.epoch=3"], "did you mean trainer.epochs?"),
    "a-key-without-its-group": (["epochs=3"], "did you mean trainer.epochs?"),
    "the-learning-rate-alone": (["lr=0.1"], "did you mean optimizer.lr?"),
    "a-british-group": (["optimiser=sgd"], "did you mean optimizer"),
    "a-swapped-letter": (["modle=cnn"], "did you mean model?"),
    "a-misspelt-option": (["model=cnnn"], "did you mean model=cnn?"),
    "a-misspelt-key-with-plus": (["+trainer.epoch=3"], "did you mean trainer.epochs?"),
    "a-key-without-its-group-with-plus": (["+epochs=3"], "did you mean trainer.epochs?"),
    "a-model-key-of-the-chosen-model": (["model=mlp", "model.hiden=3"], "did you mean model.hidden?"),
    "a-misspelt-deletion": (["~callbacks.progres"], "did you mean callbacks.progress?"),
    "a-misspelt-key-in-a-sweep": (["-m", "optimiser.lr=0.1,0.2"], "did you mean optimizer.lr?"),
    "a-misspelt-key-in-a-search": (["-m", "hydra/sweeper=optuna", "optimiser.lr=tag(log,interval(1e-3,1e-1))"],
                                   "did you mean optimizer.lr?"),
    "a-misspelt-option-in-a-sweep": (["-m", "model=mlp,nope"], "there is no model/nope.yaml"),
    "a-misspelt-option-in-a-list": (["logger=[csv,mlfow]"], "did you mean logger=mlflow?"),
    "a-misspelt-launcher": (["hydra/launcher=jobib"], "did you mean hydra/launcher=joblib?"),
    "a-misspelt-hydra-key": (["hydra.run.dri=x"], "did you mean hydra.run.dir?"),
    "a-value-of-the-wrong-type": (["trainer.epochs=abc"], "could not be converted to Integer"),
    # words in command position
    "train-as-a-command": (["train"], "Training takes no command word"),
    "evaluate-for-eval": (["evaluate"], "did you mean eval?"),
    "fit-as-a-command": (["fit"], "minitrain eval, minitrain predict, minitrain export, minitrain summary"),
    "a-word-among-overrides": (["model=mlp", "oops"], "'oops' is not a KEY=VALUE override"),
}


@pytest.fixture(scope="module")
def typo_runs(tmp_path_factory, run_cli_many):
    base = tmp_path_factory.mktemp("typos")
    return {name: (base / name, run) for name, run in run_cli_many(
        {name: (base / name, args, {}) for name, (args, _) in TYPOS.items()}).items()}


@pytest.mark.parametrize("name", list(TYPOS))
def test_a_typo_gets_did_you_mean_exit_2_and_leaves_no_run_directory(typo_runs, name):
    args, says = TYPOS[name]
    tmp, proc = typo_runs[name]
    text = proc.stdout + proc.stderr
    shown = f"minitrain {' '.join(args)}\nexit {proc.returncode}\n{text[-3000:]}"
    assert proc.returncode == 2, shown
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and says in " ".join(text.split()), shown
    assert "Traceback" not in text and "To append" not in text and "HYDRA_FULL_ERROR" not in text, shown
    assert not (tmp / "outputs").exists(), "a rejected command line left a run directory"


def test_the_commands_there_are_are_listed_for_a_word_in_command_position(typo_runs):
    _, proc = typo_runs["evaluate-for-eval"]
    said = " ".join(proc.stderr.split())
    assert "'evaluate' is not a minitrain command (did you mean eval?)" in said
    for command in ("eval", "predict", "export", "summary"):
        assert f"minitrain {command}" in said
    assert "minitrain [KEY=VALUE ...]" in said


def test_a_search_with_a_misspelt_key_names_that_key_alone(typo_runs):
    _, proc = typo_runs["a-misspelt-key-in-a-search"]
    assert proc.stderr.strip() == "Error: optimiser.lr is not a setting of the config (did you mean optimizer.lr?)."


def test_help_with_a_misspelt_key_says_did_you_mean(tmp_path, run_cli):
    proc = run_cli(tmp_path, "--help", "trainer.epoch=3")
    assert proc.returncode == 2
    assert "did you mean trainer.epochs?" in proc.stderr and "To append" not in proc.stderr


def test_a_home_path_unquoted_after_the_equals_sign_is_the_users_home(tmp_path, run_cli):
    home = tmp_path / "home"
    home.mkdir()
    proc = run_cli(tmp_path, "--cfg", "job", "dataset.path=~/data/fashion-mnist", HOME=str(home))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"path: {home}/data/fashion-mnist" in proc.stdout


def test_a_tilde_hydra_cannot_read_gets_how_to_quote_it(tmp_path, run_cli):
    proc = run_cli(tmp_path, "-m", "dataset.path=~/a,~/b")
    assert proc.returncode == 2
    assert "Hydra cannot read a '~' inside a value" in proc.stderr and "dataset.path='~/a,~/b'" in proc.stderr


def test_a_command_line_that_composes_runs_as_before_the_check(tmp_path, run_cli):
    """The check composes the command line, then leaves Hydra free to compose it for the run itself."""
    proc = run_cli(tmp_path, "--cfg", "job", "model=mlp", "trainer.epochs=2", "optimizer.lr=0.1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "epochs: 2" in proc.stdout


# The pieces, without a subprocess -------------------------------------------------------------------------

KEYS = ["trainer", "trainer.epochs", "trainer.tta_flip", "optimizer", "optimizer.lr", "optimized_metric", "model",
        "model.hidden", "loader.batch_size", "callbacks.summary.model", "seed", "lr_find"]


@pytest.mark.parametrize("typo, meant", [
    ("trainer.epoch", ["trainer.epochs"]), ("trainr.epochs", ["trainer.epochs"]), ("epochs", ["trainer.epochs"]),
    ("lr", ["optimizer.lr"]), ("modle", ["model"]), ("batchsize", ["loader.batch_size"]), ("xyz", []),
])
def test_the_nearest_keys_are_siblings_then_keys_as_deep_then_keys_with_a_near_last_name(typo, meant):
    assert nearest_keys(typo, KEYS) == meant


def test_did_you_mean_reads_as_a_sentence():
    assert did_you_mean([]) == ""
    assert did_you_mean(["a"]) == "did you mean a?"
    assert did_you_mean(["a", "b", "c"]) == "did you mean a, b or c?"


def test_only_an_unquoted_home_path_is_expanded(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ada")
    assert expand_home(["dataset.path=~/data", "hydra.run.dir=~", "x=~/a,~/b", "x='~/q'", "-cd", "~/conf"]) == [
        "dataset.path=/home/ada/data", "hydra.run.dir=/home/ada", "x=~/a,~/b", "x='~/q'", "-cd", "~/conf"]
    monkeypatch.setenv("HOME", "/home/ada lovelace")  # a space: quoted for Hydra's parser
    assert expand_home(["dataset.path=~/data"]) == ["dataset.path='/home/ada lovelace/data'"]


def test_bare_words_are_the_overrides_without_an_equals_sign():
    assert bare_words(["train", "a=1", "~callbacks.progress", "+b"]) == ["train", "+b"]


def test_an_options_problem_lists_the_options_of_a_users_config_dir_too(tmp_path):
    from argparse import Namespace

    from minitrain.command_line import composition_problem
    from minitrain.config import config_dir, register_configs
    from minitrain.hydra_adapter import args_parser, loaded_hydra

    register_configs()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mynet.yaml").write_text("defaults:\n  - cnn\n")
    args: Namespace = args_parser().parse_args(["-cd", str(tmp_path), "model=mynte"])
    with loaded_hydra(config_dir(), args) as hydra:
        problem = composition_problem(hydra, "config", args.overrides)
    assert "did you mean model=mynet?" in problem and "mlp" in problem


def test_a_sweeps_first_job_takes_each_lists_first_value_and_each_intervals_lower_end():
    from minitrain.hydra_adapter import first_job

    assert first_job(["model=mlp,cnn", "optimizer.lr=tag(log,interval(0.001,0.1))", "seed=range(1,4)", "a=b"]) == [
        "model=mlp", "optimizer.lr=0.001", "seed=1", "a=b"]
