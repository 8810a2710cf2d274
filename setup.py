"""The build's code: the arena's compiled fast path (optional), and the shaders.

Everything else about the package is in pyproject.toml. The extension
``stagebuf._arena._fast`` is built where a C compiler and the Python headers
are available; where they are not, the install goes on with the pure-Python
arena and says so in one line (``stagebuf.ARENA_BACKEND`` tells which runs).
The GLSL sources live at the top level (``shaders/``) and ship inside the
package as ``stagebuf/shaders/``; an editable install reads them in the tree.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py


class BuildPyWithShaders(build_py):
    """build_py that also copies shaders/*.vert and *.frag to stagebuf/shaders/."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib, "stagebuf", "shaders")
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(Path("shaders").iterdir()):
            if source.suffix in (".vert", ".frag"):
                shutil.copyfile(source, target / source.name)


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into one line and the pure-Python arena."""

    def build_extensions(self) -> None:
        self.failed: list[Extension] = []
        super().build_extensions()
        # What was not built is not an output: an editable install must not
        # look for it (nor copy it into the tree).
        self.extensions = [ext for ext in self.extensions if ext not in self.failed]

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as err:  # no compiler, no headers: any build failure
            self.failed.append(ext)
            lines = str(err).strip().splitlines() or [type(err).__name__]
            reason = lines[-1] if len(lines[-1]) <= 160 else lines[-1][:157] + "..."
            print(
                f"stagebuf: the compiled arena was not built ({reason}); "
                f"installing the pure-Python arena.",
                file=sys.stderr,
            )


setup(
    ext_modules=[
        Extension(
            "stagebuf._arena._fast",
            ["stagebuf/_arena/_fast.c"],
            include_dirs=[numpy.get_include()],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithShaders},
)
