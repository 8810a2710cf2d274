"""Entry point: ``python -m stagebuf.bench [arena|staging|web|all] [options]``.

Each suite prints a table, stagebuf side by side with the alternatives,
measured in the same run. Tables go to stdout, progress (one line per case as
it starts and ends) to stderr. ``--plot FILE.png`` also draws each suite's
sweep (the arena's cost per scope against slice size, the staging CPU time per
frame against triangle count) into one PNG; it needs matplotlib.
"""

from __future__ import annotations

import argparse
import sys

from .._arena._backend import arena_line
from ._plot import Panel, PlotUnavailableError, draw, require_matplotlib


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stagebuf.bench", description=__doc__)
    parser.add_argument(
        "suite",
        nargs="?",
        default="all",
        choices=["arena", "staging", "web", "all"],
        help="which benchmark suite to run (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats (a smoke run, noisier figures)"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also sweep sizes and draw them into this PNG (needs matplotlib: "
        "pip install 'stagebuf[plot]')",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plotting = args.plot is not None
    if plotting:
        try:  # before any bench runs: a missing matplotlib must not cost a whole run
            require_matplotlib()
        except PlotUnavailableError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    print(arena_line(), flush=True)  # first: every figure below depends on it
    panels: list[Panel | None] = []
    if args.suite in ("arena", "all"):
        from ._arena_bench import run as run_arena

        panels.append(run_arena(quick=args.quick, sweep=plotting))
    if args.suite in ("staging", "all"):
        from ._staging_bench import run as run_staging

        panels.append(run_staging(quick=args.quick, sweep=plotting))
    if args.suite in ("web", "all"):
        from ._web_bench import run as run_web

        run_web(quick=args.quick)
    if plotting:
        draw(args.plot, [p for p in panels if p is not None])
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
