"""argparse types shared by the commands (numbers that must lie in a range), and the check that no output replaces
an input.

A value out of range is a usage error (one line on stderr, exit code 2, see :mod:`handpose.cli`), before any work
or any output.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def _number(kind: type, low: float | None, low_open: bool, high: float | None, what: str) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind`` (int or float), finite, within [low, high] (or (low, ...) when ``low_open``)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        bad = not math.isfinite(value)
        bad = bad or (low is not None and (value <= low if low_open else value < low))
        bad = bad or (high is not None and value > high)
        if bad:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


#: argparse types for options that must be in range (a bad value is a one-line usage error, exit code 2)
positive_int = _number(int, 1, False, None, "a positive integer")
nonnegative_int = _number(int, 0, False, None, "an integer >= 0")
positive_float = _number(float, 0.0, True, None, "a positive number")
nonnegative_float = _number(float, 0.0, False, None, "a number >= 0")
unit_float = _number(float, 0.0, False, 1.0, "a number in [0, 1]")


def refuse_overwriting_inputs(outputs: list[Any], inputs: list[Any], field: str = "--out") -> None:
    """Raise :class:`~handpose.errors.ConfigError` (naming ``field``) when an output path is one of the input files:
    an output folder set to the inputs' own folder would otherwise replace an input by a result of the same name.
    Call it before anything is written."""
    from pathlib import Path

    from ..errors import ConfigError

    given = {Path(p).resolve() for p in inputs}
    for out in outputs:
        if Path(out).resolve() in given:
            raise ConfigError(f"writing {out} would replace the input file of that name; choose another output "
                              "folder", field=field)  # fmt: skip


def require_output_folder(out: Any, field: str = "--out") -> None:
    """Raise :class:`~handpose.errors.ConfigError` (naming ``field``) when ``out`` exists and is not a folder (the OS
    would say only "File exists" once the first result is written). Call it before any work."""
    from pathlib import Path

    from ..errors import ConfigError

    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"{out} is a file; {field} names the folder the results are written to", field=field)
