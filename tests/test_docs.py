"""The docs cannot drift from the code: every `minitrain` command in README.md and docs/*.md composes (docs/maintain.py
check), every link and picture they name exists, every picture is made by docs/maintain.py, and no example output
shows a temporary folder."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def maintain():
    spec = importlib.util.spec_from_file_location("maintain", REPO / "docs" / "maintain.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["maintain"] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


def test_every_command_in_the_readme_and_the_docs_composes(maintain):
    assert len(maintain.commands()) > 50  # the fenced ones and those written in the text
    assert maintain.check() == []


def test_the_check_names_a_command_that_does_not_compose_and_passes_one_shown_failing(maintain, tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Try:\n\n```bash\nminitrain trainer.epoch=3      # a typo\nminitrain -m model=mlp,nope\n"
                    "minitrain optimizer.lr=-1\n```\n\nand `minitrain model=resnet` or\n`minitrain model=resnt\n"
                    "trainer.epochs=2`.\n\n```\n$ minitrain trainer.epochs=abc\nError merging override trainer.epochs=abc\n```\n")
    problems = maintain.check([page])
    assert [p.split(": ")[0] for p in problems] == [f"{page}:4", f"{page}:5", f"{page}:6", f"{page}:10"]
    assert "trainer.epoch" in problems[0] and "nope" in problems[1] and "optimizer.lr=-1" in problems[2]


def test_the_commands_files_are_the_blocks_marked_as_files(maintain):
    files = maintain.files()
    assert {"mymodels.py", "mycallbacks.py", "myconf/model/pooled_cnn.yaml", "myconf/optimizer/rmsprop.yaml"} <= set(files)
    assert "class PooledCNN" in files["mymodels.py"]


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings (outside code blocks)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}


def test_every_link_and_picture_of_the_readme_and_the_docs_exists(maintain):
    broken = []
    for page in maintain.PAGES:
        for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if link.startswith(("http://", "https://")):
                continue
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists() or (anchor and anchor not in heading_anchors(target)):
                broken.append(f"{page.relative_to(REPO)}: {link}")
    assert broken == []


def test_every_picture_in_the_docs_is_made_by_docs_maintain_py_and_shown(maintain):
    made = {picture for step in maintain.STEPS for picture in step.pictures}
    on_disk = {p.name for p in maintain.PICTURES.glob("*.png")}
    shown = {Path(link).name for page in maintain.PAGES for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", page.read_text())}
    assert on_disk == made == shown


def test_no_example_output_shows_a_temporary_folder(maintain):
    for page in maintain.PAGES:
        assert not re.search(r"/tmp/|/var/folders/|pytest-of-", page.read_text()), page


def test_the_readme_is_a_few_screens_and_links_every_docs_page(maintain):
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    pages = {p.name for p in maintain.PAGES if p.parent.name == "docs"}
    assert pages == set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))


def test_the_readme_tells_a_cpu_only_user_to_install_the_cpu_build_of_the_pinned_torch_first():
    readme = (REPO / "README.md").read_text()
    pinned = re.search(r"^torch==(\S+)$", (REPO / "constraints.txt").read_text(), flags=re.M).group(1)
    cpu = "--index-url https://download.pytorch.org/whl/cpu"
    assert f"pip install torch {cpu}" in readme  # before `pip install .`
    assert f"pip install torch=={pinned} {cpu}" in readme  # before the quick start's `-c constraints.txt`
    assert readme.index(f"pip install torch {cpu}") < readme.index("pip install .")
    assert readme.index(f"pip install torch=={pinned} {cpu}") < readme.index("pip install -e . -c constraints.txt")
