"""`minitrain --help` and `--version`: fast (no torch), and --help takes Hydra's own flags (-cd, -cp, -cn, -m,
hydra.searchpath) and lists the options of the user's config folders beside minitrain's."""

from __future__ import annotations

import re

import pytest

import minitrain


@pytest.fixture(scope="module")
def myconf(tmp_path_factory):
    """A user's config folder: a model option, and a primary config of their own built on minitrain's."""
    root = tmp_path_factory.mktemp("help") / "myconf"
    (root / "model").mkdir(parents=True)
    (root / "model" / "mynet.yaml").write_text("_target_: mymodels.Net\nwidth: 32\n")
    (root / "myrun.yaml").write_text("defaults:\n  - config\n  - override model: mynet\n  - _self_\n"
                                     "trainer:\n  epochs: 3\n")
    return root


def options(help_text: str, group: str) -> list[str]:
    """The options --help lists for `group`, a * on the one chosen."""
    line = re.search(rf"^  {group}:\s+(.*)$", help_text, re.MULTILINE)
    assert line, help_text
    return line.group(1).split(", ")


@pytest.fixture(scope="module")
def helps(myconf, tmp_path_factory, run_cli_many):
    base = tmp_path_factory.mktemp("helps")
    cases = {
        "cd": ["--help", "-cd", str(myconf), "model=mynet"],
        "searchpath": ["--help", f"hydra.searchpath=[file://{myconf}]"],
        "cn": ["--help", "--config-dir", str(myconf), "-cn", "myrun"],
        "cp": ["--help", "-cp", str(myconf), "-cn", "myrun"],  # myconf as the primary folder: no `config` in it
        "multirun": ["--help", "-m", "optimizer.lr=0.01,0.1", "model=mlp"],
        "missing_dir": ["--help", "-cd", str(base / "nowhere")],
        "version": ["--version"],
    }
    return run_cli_many({name: (base / name, args, {"PYTHONPROFILEIMPORTTIME": "1"}) for name, args in cases.items()})


def test_help_with_a_user_config_dir_lists_the_users_options_beside_minitrains(helps):
    assert helps["cd"].returncode == 0, helps["cd"].stderr[-2000:]
    assert options(helps["cd"].stdout, "model") == ["autoencoder", "autoencoder_lesson", "cnn", "mlp", "mynet*", "resnet"]
    assert "_target_: mymodels.Net" in helps["cd"].stdout


def test_help_with_hydra_searchpath_lists_the_users_options(helps):
    assert helps["searchpath"].returncode == 0, helps["searchpath"].stderr[-2000:]
    assert "mynet" in options(helps["searchpath"].stdout, "model")
    assert "cnn*" in options(helps["searchpath"].stdout, "model")


def test_help_with_a_users_primary_config_shows_what_it_composes(helps):
    proc = helps["cn"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mynet*" in options(proc.stdout, "model")
    assert re.search(r"^trainer:\n  epochs: 3$", proc.stdout, re.MULTILINE)


def test_help_with_a_primary_folder_that_lacks_minitrains_config_says_so_and_exits_2(helps):
    proc = helps["cp"]
    assert proc.returncode == 2
    assert "Could not load 'config'" in proc.stderr and "Traceback" not in proc.stderr


def test_help_in_a_multirun_shows_the_config_before_the_sweep(helps):
    proc = helps["multirun"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mlp*" in options(proc.stdout, "model")
    assert re.search(r"^  lr: 0.01$", proc.stdout, re.MULTILINE)


def test_help_with_a_config_dir_that_does_not_exist_says_so_and_exits_2(helps):
    proc = helps["missing_dir"]
    assert proc.returncode == 2
    assert "nowhere' not found" in proc.stderr and "Traceback" not in proc.stderr


def test_version_names_minitrain_torch_and_hydra(helps):
    import torch
    from hydra import __version__ as hydra_version

    proc = helps["version"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"minitrain {minitrain.__version__} (torch {torch.__version__}, Hydra {hydra_version}")


@pytest.mark.parametrize("case", ["cd", "multirun", "version"])
def test_help_and_version_never_import_torch(helps, case):
    imported = {line.split("|")[-1].strip() for line in helps[case].stderr.splitlines() if line.startswith("import time:")}
    assert "minitrain.cli" in imported  # the import log is there ...
    assert "torch" not in imported      # ... and torch is not in it
