"""The ``handpose`` command.

Each subcommand lives in its own module under :mod:`handpose.commands` and is found automatically. A command
module defines::

    NAME = "evaluate-predictions"          # the subcommand's name
    HELP = "one line for --help"
    def add_arguments(parser): ...          # argparse arguments (may add nested subparsers)
    def run(args) -> int: ...               # the exit code

Command modules import heavy libraries (torch, cv2) inside ``run`` so that ``handpose --help`` stays fast.
A user mistake (any :class:`handpose.errors.HandposeError`, a missing file, a bad option) prints one line on
stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import pkgutil
import sys
from importlib import import_module
from types import ModuleType

from . import __version__, commands
from .errors import HandposeError, one_line

EXIT_USAGE = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {one_line(Exception(message))} (see --help)\n")
        sys.exit(EXIT_USAGE)


def _command_modules() -> list[ModuleType]:
    found = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found.append(module)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="handpose", description="Hand pose estimation toolkit.")
    parser.add_argument("--version", action="version", version=f"handpose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=getattr(module, "HELP", ""), description=getattr(module, "HELP", ""))
        if hasattr(module, "add_arguments"):
            module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._run(args) or 0)
    except HandposeError as exc:
        sys.stderr.write(f"handpose: error: {one_line(exc)}\n")
        return EXIT_USAGE
    except (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        sys.stderr.write(f"handpose: error: {where}{exc.strerror or one_line(exc)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("handpose: interrupted\n")
        return 130
    except BrokenPipeError:  # the reader of our output went away (`handpose models | head`): stop quietly
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
