"""Typed errors for everything a user can get wrong.

Every error raised for bad input (a missing or corrupt file, a wrong shape, an unknown name, an untrusted
checkpoint) is a :class:`HandposeError`. Its ``str()`` is one readable line that names the file (and line or field
when known) and the problem, so the CLI can print it as is and exit with code 2.
"""

from __future__ import annotations

from os import PathLike


class HandposeError(Exception):
    """Base class of user-facing errors.

    Args:
        problem: what is wrong, in words ("expected 48 values, got 47").
        path: the file or folder concerned, if any.
        line: 1-based line number inside ``path``, if known.
        field: the key, column or argument concerned, if any.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "")
        elif self.line is not None:
            where = f"line {self.line}"
        parts = [p for p in (where, self.field) if p]
        prefix = ": ".join(parts)
        text = f"{prefix}: {self.problem}" if prefix else self.problem
        return " ".join(text.split())  # always one line


class DataError(HandposeError, ValueError):
    """A data file is missing, truncated, corrupt, or does not follow its documented format."""


class UnsafeFileError(DataError):
    """A file asks for something we refuse to do (for example a pickle that would import or call code)."""


class ConfigError(HandposeError, ValueError):
    """A config or command-line option is unknown, of the wrong type, or out of range."""


class UnknownNameError(ConfigError, KeyError):
    """A name (dataset, model, preset, joint convention) that the toolkit does not know."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0] if self.args else ""


class CheckpointError(HandposeError, ValueError):
    """A checkpoint is missing, corrupt, untrusted, or belongs to a different model."""


class ModelInputError(HandposeError, ValueError):
    """A tensor given to a model has the wrong shape, dtype, or non-finite values."""


class TeacherError(HandposeError, RuntimeError):
    """A teacher model (its own environment, run as a separate process) is missing, failed, or answered nonsense."""


def one_line(error: BaseException) -> str:
    """Return ``error`` as one line of text, for the CLI."""
    text = str(error) or type(error).__name__
    return " ".join(text.split())
