"""The build's one piece of code: the arena's compiled fast path, optional.

Everything else about the package is in pyproject.toml. The extension
``stagebuf._arena._fast`` is built where a C compiler and the Python headers
are available; where they are not, the install goes on with the pure-Python
arena and says so in one line (``stagebuf.ARENA_BACKEND`` tells which runs).
"""

from __future__ import annotations

import sys

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into one line and the pure-Python arena."""

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as err:  # no compiler, no headers: any build failure
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
    cmdclass={"build_ext": OptionalBuildExt},
)
