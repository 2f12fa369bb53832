"""Everything about the package is in pyproject.toml; this only builds the console's front-end
assets before the package's files are collected (scripts/build_console.py)."""

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConsole(build_py):
    def run(self) -> None:
        runpy.run_path(str(Path(__file__).parent / "scripts" / "build_console.py"))["build"]()
        super().run()


setup(cmdclass={"build_py": BuildPyWithConsole})
