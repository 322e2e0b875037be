"""Keep the docs true to today's code: check every `minitrain` command they show, and regenerate their pictures
and example outputs by running the commands on the real Fashion-MNIST.

    python docs/maintain.py check                 # compose every command of README.md and docs/*.md (seconds; CI)
    python docs/maintain.py run                   # run every command that needs no network, each made fast
    python docs/maintain.py pictures              # regenerate docs/pictures/ and the marked example outputs
    python docs/maintain.py pictures --only sweep # one step of it (see STEPS)

Two markers, HTML comments that do not show when the page is read, tie a fenced block to this script:
`<!-- file: PATH -->` before a block means "this block is the file PATH" (written into the work folder before the
commands run), and `<!-- output: STEP -->` before a block means "this block is what STEP printed" (rewritten by
`pictures`). A command shown with a `$ ` prompt and an output starting with `Error` is one that must fail.
Example outputs are made in a scratch folder and shown relative to it (`outputs/DATE/TIME`, never /tmp/...).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PICTURES = REPO / "docs" / "pictures"
FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
# Words in the docs' commands that stand for something of the reader's: what `run` puts in their place.
PLACEHOLDERS = ("DIR", "HOST", "JOB", "NAME", "YOUR_PARTITION", "DATE/TIME", "<run dir>", "MYCONF", "PATH", "N")


# Reading the pages --------------------------------------------------------------------------------------------

@dataclass
class Block:
    """A fenced block of a page: where it is, its lines, and the marker before it (if any)."""

    page: Path
    line: int  # 1-based line of the opening fence
    lines: list[str]
    marker: tuple[str, str] | None = None  # ("file", PATH) or ("output", STEP)


@dataclass
class Command:
    """One `minitrain` command shown in a block, as argv after `minitrain`, and whether it is shown failing."""

    page: Path
    line: int
    text: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    fails: bool = False
    error: str = ""  # the error line shown under it, when it is shown failing

    def where(self) -> str:
        page = self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page
        return f"{page}:{self.line}: {self.text}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, with the marker comment on the line before it."""
    found, lines = [], page.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            marker = re.fullmatch(r"<!-- (file|output): (\S+) -->", lines[i - 1].strip()) if i else None
            found.append(Block(page, i + 1, lines[i + 1:end], marker.groups() if marker else None))
            i = end
        i += 1
    return found


def commands(pages: list[Path] = PAGES) -> list[Command]:
    """Every `minitrain ...` command line in the pages' fenced blocks (also after `$ `, `&&`, env assignments,
    `torchrun ... -m minitrain` and `--no-python minitrain`)."""
    found = []
    for page in pages:
        for block in blocks(page):
            if block.marker and block.marker[0] == "file":
                continue
            for k, raw in enumerate(block.lines):
                prompt = raw.startswith("$ ")
                text = raw[2:] if prompt else raw
                if prompt is False and any(line.startswith("$ ") for line in block.lines):
                    continue  # an output line of a transcript
                shown_output = list(itertools.takewhile(lambda s: not s.startswith("$ "), block.lines[k + 1:]))
                error = next((line for line in shown_output if line.startswith("Error")), "") if prompt else ""
                for part in text.split("&&"):
                    command = parse_command(part)
                    if command is not None:
                        argv, env = command
                        found.append(Command(page, block.line + 1 + k, part.strip(), argv, env, bool(error), error))
        found += inline_commands(page)
    return found


def inline_commands(page: Path) -> list[Command]:
    """The `minitrain ...` commands written in the text as code spans, outside the fenced blocks; those that name
    a placeholder (experiment=NAME, run=DIR) or are a subcommand's bare name are not commands to run."""
    text = page.read_text()
    fenced = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    found = []
    for m in re.finditer(r"`((?:PYTHONPATH=\. )?minitrain [^`]+)`", fenced):
        span = " ".join(m.group(1).split())
        parsed = parse_command(span)
        if parsed is None or any(re.search(rf"(?<![\w/]){re.escape(p)}(?![\w])", span) for p in PLACEHOLDERS):
            continue
        argv, env = parsed
        if argv and argv[0] in ("eval", "predict", "export") and len(argv) == 1:
            continue
        found.append(Command(page, fenced.count("\n", 0, m.start()) + 1, span, argv, env))
    return found


def parse_command(text: str) -> tuple[list[str], dict[str, str]] | None:
    """(argv after `minitrain`, environment assignments) of a shell command that runs minitrain, else None."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return None
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if words and words[-1] == "&":
        words.pop()
    if words[:1] == ["torchrun"]:
        for start in range(len(words) - 1):
            if words[start:start + 2] in (["-m", "minitrain"], ["--no-python", "minitrain"]):
                return words[start + 2:], env
        return None
    if words[:1] == ["minitrain"]:
        return words[1:], env
    return None


def files(pages: list[Path] = PAGES) -> dict[str, str]:
    """{path: text} of every block marked `<!-- file: PATH -->`: the example files the commands use."""
    return {b.marker[1]: "\n".join(b.lines) + "\n" for page in pages for b in blocks(page) if b.marker and b.marker[0] == "file"}


def write_files(work: Path, pages: list[Path] = PAGES) -> None:
    for name, text in files(pages).items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)


# check: compose every command -------------------------------------------------------------------------------

SKIP_FLAGS = {"--help", "-h", "--version", "--info", "--hydra-help", "--cfg", "job", "-m", "--multirun"}


def jobs_of(overrides: list[str]) -> list[list[str]]:
    """A sweep's overrides as its jobs' override lists (an interval stands for its lower end, as a job would
    draw one value from it); a plain override list is one job."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep

    choices = []
    for parsed in OverridesParser.create().parse_overrides(overrides):
        key = parsed.get_key_element()
        if not parsed.is_sweep_override():
            choices.append([parsed.input_line])
        elif isinstance(parsed.value(), IntervalSweep):
            choices.append([f"{key}={parsed.value().start}"])
        else:
            choices.append([f"{key}={value}" for value in parsed.sweep_string_iterator()])
    return [list(job) for job in itertools.product(*choices)]


def compose(command: Command, work: Path) -> None:
    """Compose `command` as minitrain would (typed schemas, then minitrain's own checks of the values); raise on
    any problem. Subcommands check their options instead."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from omegaconf import open_dict

    from minitrain.checks import check_config
    from minitrain.commands import COMMANDS, parse_options
    from minitrain.config import config_dir, register_configs

    argv = list(command.argv)
    if argv[:1] and argv[0] in COMMANDS and argv[0] != "summary":
        import importlib

        if not {"--help", "-h"} & set(argv):
            module = importlib.import_module(COMMANDS[argv[0]])
            parse = getattr(module, "parse", None)  # a command that reads its own arguments (compare's folders)
            parse(argv[1:]) if parse else parse_options(argv[0], module.Options, argv[1:])
        return
    argv = argv[1:] if argv[:1] == ["summary"] else argv
    overrides, i = [], 0
    while i < len(argv):
        if argv[i] in ("-cd", "--config-dir"):
            overrides.append(f"hydra.searchpath=[file://{(work / argv[i + 1]).resolve()}]")
            i += 2
            continue
        if argv[i] == "-sc" or argv[i].startswith("--"):  # -sc install=bash: Hydra's shell completion
            i += 2 if argv[i] == "-sc" else 1
            continue
        if argv[i] not in SKIP_FLAGS:
            overrides.append(argv[i])
        i += 1
    register_configs()
    for job in jobs_of(overrides):
        if tuple(job) in COMPOSED:
            continue
        with initialize_config_dir(config_dir=config_dir(), version_base=None):
            cfg = hydra_compose("config", overrides=job)
        with open_dict(cfg):
            cfg.pop("hydra", None)
        if cfg.get("resume") is None:  # a resume's values are the run's, read when it starts
            check_config(cfg)
        COMPOSED.add(tuple(job))


COMPOSED: set[tuple[str, ...]] = set()  # override lists already composed without a problem (a second costs 0.3 s)


def check(pages: list[Path] = PAGES) -> list[str]:
    """Compose every command of the pages; the problems, one line each (none: every command parses)."""
    import warnings

    warnings.filterwarnings("ignore", message=r"(?s).*validated against ConfigStore schema with the same name")
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_files(work, pages)
        sys.path.insert(0, str(work))  # PYTHONPATH=. of the docs' own-model commands
        cwd = os.getcwd()
        os.chdir(work)
        try:
            for command in commands(pages):
                try:
                    compose(command, work)
                    error = None
                except BaseException as e:  # noqa: BLE001  (Hydra exits on some bad overrides)
                    error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                if not command.fails and error is not None:  # one shown failing may fail later: `run` checks it
                    problems.append(f"{command.where()}: {error}")
        finally:
            os.chdir(cwd)
            sys.path.remove(str(work))
    return problems


# run: every command, made fast ------------------------------------------------------------------------------

NEEDS = {  # a command with one of these needs what this machine may not have
    "device=cuda": "a CUDA GPU", "submitit_slurm": "a SLURM cluster", "--nnodes=2": "several machines",
    "nproc_per_node=4": "four GPUs", "logger=wandb": "wandb", "[csv,tensorboard,wandb]": "wandb",
    "CUDA_VISIBLE_DEVICES": "GPUs", "cifar10": "the Hugging Face hub", "dataset=hub": "the Hugging Face hub",
}
FAST = ["debug=fast"]  # 1 epoch of 2 batches: every command's data, model, callbacks and files, in seconds


def runnable(command: Command) -> str | None:
    """Why `command` cannot run here (None: it can)."""
    text = command.text
    for needle, need in NEEDS.items():
        if needle in text:
            return f"needs {need}"
    if "tensorboard" in text and shutil.which("tensorboard") is None:
        return "needs tensorboard"
    if missing := re.search(r"needs (\w+), which is not installed", command.error):
        if importlib.util.find_spec(missing[1]) is not None:
            return f"shows the error without {missing[1]}, which is installed here"
    return None


def run_all(pages: list[Path] = PAGES) -> list[str]:
    """Run every command of the pages that can run here, each with FAST added (and a finished run in place of a
    run directory); the problems, one line each."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_files(work, pages)
        if FASHION.is_dir():
            shutil.copytree(FASHION, work / "fashion-mnist")
        run_dir = work / "outputs" / "a-run"
        base = minitrain(work, ["trainer.epochs=1", "trainer.limit_batches=4", f"hydra.run.dir={run_dir}"])
        assert base.returncode == 0, base.stdout[-2000:]
        write_my_images(work)
        for command in commands(pages):
            reason = runnable(command)
            if reason:
                print(f"skip  {command.where()} ({reason})")
                continue
            argv = [substitute(a, run_dir, work) for a in command.argv]
            subcommand = argv[:1] and argv[0] in ("eval", "predict", "export", "summary", "compare")
            takes_overrides = not subcommand or argv[0] == "summary"
            meta = set(argv) & {"--help", "-h", "--version", "--info", "--hydra-help", "--cfg", "-sc"}
            extra = FAST if takes_overrides and not meta and "lr_find=true" not in argv else []
            if "resume=" in " ".join(argv) or any(a.startswith("hydra.run.dir=") for a in argv):
                extra = []  # a resume keeps its run's settings; a named run dir is used as it is
            proc = minitrain(work, [*argv, *extra], env=command.env)
            ok = (proc.returncode != 0) if command.fails else (proc.returncode == 0)
            print(f"{'ok  ' if ok else 'FAIL'}  {command.where()}")
            if not ok:
                problems.append(f"{command.where()}: exit {proc.returncode}: {proc.stdout.strip().splitlines()[-1:]}")
    return problems


def substitute(arg: str, run_dir: Path, work: Path) -> str:
    """A placeholder or an example run directory in `arg` replaced by a real one."""
    arg = re.sub(r"outputs/\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d", str(run_dir), arg)
    arg = re.sub(r"outputs/multirun/(\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d|DATE/TIME/N)", str(run_dir), arg)
    arg = arg.replace("outputs/DATE/TIME", str(run_dir)).replace("=DIR", f"={run_dir}")
    if arg.startswith("dataset.path=") and not Path(work, arg.split("=", 1)[1]).exists():
        arg = f"dataset.path={work / 'fashion-mnist'}"
    return arg


def minitrain(work: Path, argv: list[str], env: dict[str, str] | None = None, timeout: int = 600):
    """`python -m minitrain argv` in `work`, stdout and stderr together, as a terminal 80 columns wide shows them."""
    environment = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                   **(env or {})}
    if (env or {}).get("PYTHONPATH") == ".":
        environment["PYTHONPATH"] = str(work)
    return subprocess.run([sys.executable, "-m", "minitrain", *argv], cwd=work, env=environment, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


# pictures: the docs' pictures and example outputs, from today's code ----------------------------------------

def fashion(split: str) -> tuple:
    """(images N x 28 x 28 uint8, labels) of Fashion-MNIST's train or t10k split, read from Debian's IDX files."""
    import numpy as np

    def read(kind: str, offset: int):
        path = next(FASHION.glob(f"{split}-{kind}-idx*-ubyte*"))
        data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
        return np.frombuffer(data, dtype=np.uint8, offset=offset)

    return read("images", 16).reshape(-1, 28, 28), read("labels", 8)


CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def write_my_images(work: Path) -> None:
    """my-images/: Fashion-MNIST test images 0-3 saved the ways a user's pictures come (docs/inspect.md)."""
    from PIL import Image

    images, _ = fashion("t10k")
    folder = work / "my-images"
    folder.mkdir(exist_ok=True)
    grey = [Image.fromarray(image) for image in images[:4]]
    grey[0].convert("RGB").resize((280, 280)).save(folder / "boot.jpg")  # a 280x280 colour JPG
    grey[1].save(folder / "pullover.png")  # a 28x28 PNG
    grey[2].resize((64, 64)).save(folder / "trousers.bmp")  # a 64x64 BMP
    red = Image.merge("RGB", [grey[3], grey[3].point(lambda v: v // 3), grey[3].point(lambda v: v // 3)])
    red.resize((100, 100)).save(folder / "red-trousers.png")  # a tinted 100x100 PNG


def write_clothes(work: Path) -> None:
    """clothes/: 6,000 training and 1,000 test images of Fashion-MNIST as JPEGs in class folders (docs/data.md)."""
    from PIL import Image

    for split, source, n in (("train", "train", 6000), ("test", "t10k", 1000)):
        images, labels = fashion(source)
        for i in range(n):
            folder = work / "clothes" / split / CLASSES[labels[i]].replace("/", "_").replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / f"{i:05d}.jpg", quality=90)


NOTEBOOK_DATA = '''# docs/maintain.py: the `dls` and `get_model()` the notebook of docs/python-api.md speaks of
import gzip as _gzip
from types import SimpleNamespace as _Namespace

import numpy as _np
import torch as _torch


def _split(name, n):
    folder = "/usr/share/datasets/fashion-mnist"
    x = _np.frombuffer(_gzip.open(f"{folder}/{name}-images-idx3-ubyte.gz").read(), _np.uint8, offset=16)
    y = _np.frombuffer(_gzip.open(f"{folder}/{name}-labels-idx1-ubyte.gz").read(), _np.uint8, offset=8)
    x = _torch.tensor(x[: n * 784].reshape(n, 784), dtype=_torch.float32) / 255
    y = _torch.tensor(y[:n], dtype=_torch.long)
    return [(x[i:i + 64], y[i:i + 64]) for i in range(0, n, 64)]


dls = _Namespace(train=_split("train", 10_000), valid=_split("t10k", 2_000))


def get_model():
    _torch.manual_seed(0)
    return _torch.nn.Sequential(_torch.nn.Linear(784, 50), _torch.nn.ReLU(), _torch.nn.Linear(50, 10))


'''


def write_notebook(work: Path) -> None:
    """notebook.py: the block of docs/python-api.md marked as that file, after the data and model it speaks of."""
    (work / "notebook.py").write_text(NOTEBOOK_DATA + files()["notebook.py"])


@dataclass
class Step:
    """Commands run in order in the work folder. `pictures` maps a docs picture to the file a command wrote ({run}:
    the newest run directory, {sweep}: the newest sweep directory); `outputs` maps an output marker to the
    commands whose transcript it shows (default: the step's name, all of them); `show` keeps, per command, the
    output lines from the first that starts with it (None: all of them; "": none, the command only)."""

    name: str
    commands: list[str]
    pictures: dict[str, str] = field(default_factory=dict)
    show: dict[int, str | None] = field(default_factory=dict)
    outputs: dict[str, list[int]] | None = None
    setup: object = None
    prompt: bool = True  # show each command before its output


STEPS = [
    Step("version", ["minitrain --version"]),
    Step("default", ["minitrain model=cnn dataset=fashion_mnist trainer.epochs=5"],
         {"cnn_predictions.png": "{run}/predictions.png"}),
    Step("lr_find", ["minitrain lr_find=true"], {"lr_find.png": "{run}/lr_find.png"}, {0: "LR finder"}),
    Step("lr_find_sgd", ["minitrain lr_find=true optimizer=sgd optimizer.momentum=0.9 seed=1",
                         "minitrain lr_find=true optimizer=sgd optimizer.momentum=0.9 seed=2"], show={0: "LR finder", 1: "LR finder"}),
    Step("sweep", ["minitrain -m model=cnn optimizer.lr=0.01,0.1,0.4"], {"sweep.png": "{sweep}/sweep.png"},
         {0: "Sweep:"}),
    Step("use", ["minitrain trainer.epochs=1", "minitrain eval run={run}", "minitrain predict run={run} inputs=my-images",
                 "cat {run}/predict/predictions.csv", "minitrain export run={run}",
                 "minitrain eval run={run} checkpoint=epoch_3.pt",
                 "minitrain predict run={run} inputs={run}/summary.json"],
         {"eval_confusion_matrix.png": "{run}/eval/confusion_matrix.png", "eval_top_losses.png": "{run}/eval/top_losses.png",
          "predict_predictions.png": "{run}/predict/predictions.png"},
         outputs={"eval": [1], "predict": [2, 3], "export": [4], "use_errors": [5, 6]}, setup=write_my_images),
    Step("folder", ["minitrain dataset=folder dataset.path=clothes trainer.epochs=2"],
         {"own_images_predictions.png": "{run}/predictions.png"}, setup=write_clothes),
    Step("activations", ["minitrain inspect=activations trainer.epochs=2"],
         {"activations_color_dim.png": "{run}/activations_color_dim.png", "activations_stats.png": "{run}/activations_stats.png"}),
    Step("activations_lr", ["minitrain inspect=activations trainer.epochs=2 optimizer.lr=0.3"],
         {"activations_color_dim_lr_0.3.png": "{run}/activations_color_dim.png",
          "activations_dead_lr_0.3.png": "{run}/activations_dead.png"}),
    Step("early_stop", ["minitrain model=mlp scheduler=none optimizer.lr=0.05 trainer.epochs=30 "
                        "trainer.early_stop_patience=2 trainer.limit_batches=100"]),
    Step("debug", ["minitrain debug=fast", "minitrain debug=overfit"]),
    Step("typo", ["minitrain trainer.epochs=abc"]),
    Step("optuna", ["minitrain -m hydra/sweeper=optuna hydra.sweeper.n_trials=3 'optimizer.lr=tag(log,interval(1e-3,1e-1))' "
                    "model=mlp trainer.epochs=1", "cat {sweep}/optimization_results.yaml"], show={0: "Sweep:"}),
    Step("own_model", ["PYTHONPATH=. minitrain -cd myconf model=pooled_cnn optimizer=rmsprop trainer.epochs=1"],
         show={0: "epoch"}),
    Step("notebook", ["python notebook.py"], setup=write_notebook, prompt=False),
    Step("autoencoder", ["minitrain experiment=autoencoder_sharp"],
         {"autoencoder_reconstructions.png": "{run}/reconstructions/epoch_010.png"}),  # 10 long epochs: many minutes
]


def newest(work: Path, pattern: str) -> Path | None:
    found = [p.parent for p in work.glob(pattern)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_step(step: Step, work: Path) -> dict[str, list[str]]:
    """Run a step's commands; copy its pictures into docs/pictures/; its transcripts (relative to `work`) by marker."""
    if step.setup:
        step.setup(work)
    transcripts = []
    for k, template in enumerate(step.commands):
        run = newest(work, "outputs/*/*/summary.json")
        sweep = newest(work, "outputs/multirun/*/*/sweep.csv")
        text = template.format(run=run.relative_to(work) if run else "{run}", sweep=sweep.relative_to(work) if sweep else "")
        print(f"  $ {text}", flush=True)
        if text.startswith("cat "):
            output = (work / text.split()[1]).read_text()
        elif text.startswith("python "):
            output = subprocess.run([sys.executable, text.split()[1]], cwd=work, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=3600).stdout
        else:
            argv, env = parse_command(text)
            output = minitrain(work, argv, env, timeout=3600).stdout
        lines = output.replace(f"{work}/", "").replace(str(work), ".").replace(str(Path.home()), "~").rstrip("\n").splitlines()
        start = step.show.get(k)
        if start == "":
            lines = []
        elif start is not None:
            lines = lines[next((i for i, line in enumerate(lines) if line.startswith(start)), 0):]
        transcripts.append([f"$ {text}", *lines] if step.prompt else lines)
    run = newest(work, "outputs/*/*/summary.json")
    sweep = newest(work, "outputs/multirun/*/*/sweep.csv")
    for picture, source in step.pictures.items():
        shutil.copyfile(Path(source.format(run=run, sweep=sweep)), PICTURES / picture)
        print(f"  wrote docs/pictures/{picture}")
    outputs = step.outputs or {step.name: list(range(len(step.commands)))}
    return {name: [line for k in ks for line in transcripts[k]] for name, ks in outputs.items()}


def replace_outputs(outputs: dict[str, list[str]], pages: list[Path] = PAGES) -> None:
    """Put each step's transcript into the blocks marked `<!-- output: STEP -->`."""
    for page in pages:
        lines = page.read_text().splitlines()
        for block in reversed(blocks(page)):
            if block.marker and block.marker[0] == "output" and block.marker[1] in outputs:
                lines[block.line:block.line + len(block.lines)] = outputs[block.marker[1]]
        page.write_text("\n".join(lines) + "\n")


def pictures(only: list[str] | None, work: Path) -> None:
    """Run the STEPS (or only those named) in `work`; update docs/pictures/ and the marked outputs."""
    write_files(work)
    if not (work / "outputs").exists():  # `dataset.path=` is not needed: minitrain finds Debian's copy itself
        (work / "outputs").mkdir()
    results = {}
    for step in STEPS:
        if only and step.name not in only:
            continue
        print(f"{step.name}:", flush=True)
        results[step.name] = run_step(step, work)
    replace_outputs({name: lines for outputs in results.values() for name, lines in outputs.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["check", "run", "pictures"])
    parser.add_argument("--only", nargs="*", help="pictures: only these steps (" + ", ".join(s.name for s in STEPS) + ")")
    parser.add_argument("--work", type=Path, help="pictures: the scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    if args.mode == "pictures":
        work = args.work or Path(tempfile.mkdtemp(prefix="minitrain-docs-"))
        work.mkdir(parents=True, exist_ok=True)
        pictures(args.only, work)
        print(f"Runs are in {work}")
        return
    problems = check() if args.mode == "check" else run_all()
    print("\n".join(problems) or f"Every command of {len(PAGES)} pages {'composes' if args.mode == 'check' else 'runs'}.")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
