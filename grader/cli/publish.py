"""python -m grader publish DIR"""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.cli import UsageError
from grader.platforms import public

HELP = "write the students' copy of the grader (no reference solutions) for the public repository templates install from"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="a new or empty folder (a clone's .git may stay)")


def run(args: argparse.Namespace) -> int:
    try:
        written = public.publish(args.directory)
    except public.PublishError as error:
        raise UsageError(str(error)) from None
    print(f"wrote {len(written)} files to {args.directory}")
    print("Push them as the public repository students install from, tag the release, and export templates with "
          "--org/--repo/--ref pointing at it. Keep this repository (with reference/) private.")
    return 0
