"""minitrain as a user installs it: the sdist and the wheel carry the config tree, every imported module is a
declared dependency, and the wheel, installed into a fresh virtual environment, runs from any folder."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging
REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "configs").rglob("*.yaml"))


def build(*args: str, cwd: Path = REPO) -> None:
    """A build step in a subprocess; without build isolation, so that it needs no network."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist of this checkout, and the wheel built from that sdist (as `python -m build` does)."""
    out = tmp_path_factory.mktemp("dist")
    build("-c", f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})")
    (sdist,) = out.glob("minitrain-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(out / "src", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (src,) = (out / "src").iterdir()
    build("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src))
    (wheel,) = out.glob("minitrain-*.whl")
    return {"sdist": sdist, "wheel": wheel}


SITE_DIRS = ("import json, site; print(json.dumps(site.getsitepackages()"
             " + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])))")


def make_venv(root: Path, parent: str = sys.executable) -> Path:
    """A fresh virtual environment that sees every package `parent` sees, below its own site-packages.

    `--system-site-packages` is not enough: made from an interpreter that is itself a virtual environment
    (`python -m venv .venv && . .venv/bin/activate`, as most people install), it points at the base Python,
    not at the packages installed in that environment. A .pth file that adds each of `parent`'s site
    directories with `site.addsitedir` (so their own .pth files run too, as for system site-packages) works
    for a system Python and a venv alike."""
    subprocess.run([parent, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    parent_dirs = json.loads(subprocess.run([parent, "-c", SITE_DIRS], capture_output=True, text=True,
                                            check=True, timeout=60).stdout)
    python = str(root / "bin" / "python")
    (own,) = json.loads(subprocess.run([python, "-c", "import json, site; print(json.dumps(site.getsitepackages()[:1]))"],
                                       capture_output=True, text=True, check=True, timeout=60).stdout)
    lines = [f"import site; site.addsitedir({d!r})" for d in parent_dirs if Path(d).is_dir()]
    (Path(own) / "_parent_environment.pth").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def venv(tmp_path_factory, dist) -> Path:
    """A fresh virtual environment with the wheel installed. It sees the running environment's packages (torch
    and the rest need not be installed again), but its own minitrain, the wheel's, comes first."""
    root = make_venv(tmp_path_factory.mktemp("venv"))
    build("-m", "pip", "--python", str(root / "bin" / "python"), "install", "--no-deps", "--no-index",
          "--force-reinstall", "-q", str(dist["wheel"]))
    return root


def test_a_venv_made_from_a_venv_sees_its_parents_packages_below_its_own(tmp_path):
    """The README's test command inside `python -m venv .venv`: the test's venv must see .venv's packages."""
    parent = make_venv(tmp_path / "parent")  # a user's venv, holding packages the system Python does not have
    parent_site = Path(subprocess.run([str(parent / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                                      capture_output=True, text=True, check=True).stdout.strip())
    (parent_site / "only_in_parent.py").write_text("WHERE = 'parent'\n")
    (parent_site / "shadowed.py").write_text("WHERE = 'parent'\n")
    child = make_venv(tmp_path / "child", parent=str(parent / "bin" / "python"))
    child_site = Path(subprocess.run([str(child / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                                     capture_output=True, text=True, check=True).stdout.strip())
    (child_site / "shadowed.py").write_text("WHERE = 'child'\n")
    proc = subprocess.run([str(child / "bin" / "python"), "-c",
                           "import only_in_parent, shadowed, hydra, torch; print(only_in_parent.WHERE, shadowed.WHERE)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["parent", "child"]


def test_the_sdist_carries_the_config_tree(dist):
    with tarfile.open(dist["sdist"]) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert set(CONFIGS) <= names


def test_the_wheel_carries_the_config_tree_inside_the_package(dist):
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    assert {f"minitrain/{c}" for c in CONFIGS} <= names
    assert "minitrain/configs/config.yaml" in names


def test_every_module_the_package_imports_is_a_declared_dependency(dist):
    imported = set()
    for path in (REPO / "minitrain").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"minitrain", "__future__"}
    metadata = zipfile.ZipFile(dist["wheel"]).read("minitrain-" + dist["wheel"].name.split("-")[1] + ".dist-info/METADATA")
    requires = [line.split(":", 1)[1] for line in metadata.decode().splitlines() if line.startswith("Requires-Dist:")]
    canonical = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731  (PEP 503: huggingface_hub = huggingface-hub)
    declared = {canonical(re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0]) for req in requires if "extra ==" not in req}
    distributions = packages_distributions()
    missing = {m for m in third_party if not {canonical(d) for d in distributions.get(m, [m])} & declared}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_venv_imports_the_wheel_not_the_checkout(venv, tmp_path):
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", "import minitrain; print(minitrain.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_relative_to(venv)


@pytest.fixture(scope="module")
def runs(venv, tmp_path_factory, dataset_dirs, fakes, run_cli_many) -> dict:
    """The installed `minitrain` script, run side by side from folders outside the checkout."""
    base = tmp_path_factory.mktemp("installed")
    program = str(venv / "bin" / "minitrain")
    jobs = {
        "help": ["--help"],
        "cfg": ["--cfg", "job", "model=resnet"],
        "version": ["--version"],
        "train": [*fakes.tiny, f"dataset.path={dataset_dirs['idx']}", f"hydra.run.dir={base / 'train' / 'run'}"],
    }
    return run_cli_many({name: (base / name, args, {"program": program}) for name, args in jobs.items()}) | {"base": base}


def test_the_installed_help_lists_the_packaged_config_groups(runs):
    proc = runs["help"]
    assert proc.returncode == 0, proc.stderr
    assert "model:" in proc.stdout and "cnn*" in proc.stdout and "Traceback" not in proc.stderr


def test_the_installed_cfg_job_composes_from_the_packaged_configs(runs):
    proc = runs["cfg"]
    assert proc.returncode == 0, proc.stderr
    assert "_target_: minitrain.models.ResNet" in proc.stdout


def test_the_installed_version_names_minitrain_torch_and_hydra(runs):
    import minitrain

    proc = runs["version"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"minitrain {minitrain.__version__} (torch ")
    assert "Hydra 1." in proc.stdout


def test_the_installed_minitrain_trains_one_epoch_on_local_data(runs):
    proc = runs["train"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((runs["base"] / "train" / "run" / "summary.json").read_text())
    assert (summary["status"], summary["epochs_completed"], summary["model_class"]) == ("completed", 1,
                                                                                          "minitrain.models.MLP")
