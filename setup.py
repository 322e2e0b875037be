"""The build step pyproject.toml cannot say: ship the top-level configs/ inside the package as minitrain/configs.

configs/ stays where it is in the repository (one source, beside the code that reads it); wheels, and wheels
built from the sdist, carry a copy, which `minitrain.cli.config_dir()` finds beside the code.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithConfigs(build_py):
    """build_py, plus configs/**/*.yaml copied to <build>/minitrain/configs."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads configs/ in the checkout itself
        for src in sorted(Path("configs").rglob("*.yaml")):
            dest = Path(self.build_lib) / "minitrain" / src
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))


setup(cmdclass={"build_py": BuildWithConfigs})
