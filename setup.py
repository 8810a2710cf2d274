"""The build's code: the compiled fast paths (optional), and the shaders.

Everything else about the package is in pyproject.toml. The extensions
``stagebuf._arena._fast`` (the arena's scopes) and ``stagebuf._recording._fast``
(the recording's ``Frame.reserve``) are built where a C compiler and the Python
headers are available; where they are not, the install goes on in pure Python.
Either way it says what it built in one line, on the terminal pip runs in as
well as in the build log (``stagebuf.ARENA_BACKEND`` and
``stagebuf._recording.BACKEND`` tell which runs).
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


# The line an install without a compiler prints: the same words as the README's
# and stagebuf._recording._backend.NOT_BUILT (tests/test_package.py compares them).
NOT_BUILT = (
    "stagebuf: no C compiler or Python headers here, so the arena and the recording run in "
    "pure Python"
)
BUILT = "stagebuf: built the compiled arena and recording (C)"
# What each extension is, for the line of a build where only one of them failed.
PARTS = {"stagebuf._arena._fast": "arena", "stagebuf._recording._fast": "recording"}


def outcome(built: list[str], failed: list[str]) -> str:
    """The install's one line, from the names of the extensions built and failed."""
    if not failed:
        return BUILT
    if not built:
        return NOT_BUILT
    ok = " and ".join(PARTS.get(name, name) for name in built)
    bad = " and ".join(PARTS.get(name, name) for name in failed)
    return (
        f"stagebuf: built the compiled {ok} (C); the {bad} runs in pure Python (its build failed)"
    )


def tell(line: str) -> None:
    """Print ``line`` where the person installing sees it.

    pip hides a build's output unless run with -v, and has no channel for a
    backend's warnings; so the line also goes to the terminal pip runs in
    (/dev/tty), when there is one. stderr keeps it in build logs (CI, -v).
    """
    print(line, file=sys.stderr, flush=True)
    try:
        with open("/dev/tty", "w") as tty:  # absent off Unix and without a terminal
            tty.write(line + "\n")
    except OSError:
        pass


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into one line and the pure-Python path."""

    def build_extensions(self) -> None:
        self.failed: list[Extension] = []
        super().build_extensions()
        # What was not built is not an output: an editable install must not
        # look for it (nor copy it into the tree).
        built = [ext for ext in self.extensions if ext not in self.failed]
        self.extensions = built
        tell(outcome([ext.name for ext in built], [ext.name for ext in self.failed]))

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as err:  # no compiler, no headers: any build failure
            self.failed.append(ext)
            lines = str(err).strip().splitlines() or [type(err).__name__]
            reason = lines[-1] if len(lines[-1]) <= 160 else lines[-1][:157] + "..."
            # The detail, for build logs; the one line the user sees follows.
            print(f"stagebuf: building {ext.name} failed: {reason}", file=sys.stderr)


setup(
    ext_modules=[
        Extension(
            "stagebuf._arena._fast",
            ["stagebuf/_arena/_fast.c"],
            include_dirs=[numpy.get_include()],
        ),
        Extension(
            "stagebuf._recording._fast",
            ["stagebuf/_recording/_fast.c"],
            include_dirs=[numpy.get_include()],
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithShaders},
)
