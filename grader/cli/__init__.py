"""The command line, ``python -m grader COMMAND ...`` (installed also as ``nn-grader``).

Each command is a module here with ``HELP``, ``configure(parser)`` and ``run(args) -> int``;
a new module is a new command.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from grader import __version__
from grader.plugin import PluginError
from grader.sandbox.isolation import IsolationRefused

PROG = "python -m grader"  # the one name help and docs use; `nn-grader` is the same program
DESCRIPTION = "nn-grader: grade the neural-networks course's assignments, one submission or a whole class."
EXIT_USAGE = 2  # the caller's own mistake (unknown assignment, no such path); grading ran -> 0
EXIT_REFUSED = 3  # the sandbox here is too weak to grade with; nothing was graded


class UsageError(Exception):
    """A mistake in how the grader was called; the message says what to fix."""


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except PluginError as error:  # an assignment declared wrong (a course folder's, say): what to fix
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=f"Run `{PROG} COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"nn-grader {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        sub = commands.add_parser(info.name, help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except IsolationRefused as error:  # this machine's sandbox is weaker than grading may use
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED
