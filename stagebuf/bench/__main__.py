"""Entry point: ``python -m stagebuf.bench [arena|staging|all] [options]``.

Each suite prints a table, stagebuf side by side with the alternatives,
measured in the same run.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagebuf.bench", description=__doc__)
    parser.add_argument(
        "suite",
        nargs="?",
        default="all",
        choices=["arena", "staging", "all"],
        help="which benchmark suite to run (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats (a smoke run, noisier figures)"
    )
    args = parser.parse_args(argv)
    if args.suite in ("arena", "all"):
        from ._arena_bench import run as run_arena

        run_arena(quick=args.quick)
    if args.suite in ("staging", "all"):
        from ._staging_bench import run as run_staging

        run_staging(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
