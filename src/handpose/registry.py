"""A plain dict of model builders: ``register_model``, ``create_model``, ``list_models``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConfigError, UnknownNameError

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a builder (a function or class returning a model) under ``name`` (default: its own)."""

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        key = name or builder.__name__
        if key in _MODELS and _MODELS[key] is not builder:
            raise ValueError(f"model {key!r} is registered twice")
        _MODELS[key] = builder
        return builder

    return wrap


def _load_zoo() -> None:
    from . import models  # noqa: F401  (importing the package registers every model)


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    _load_zoo()
    return sorted(_MODELS)


def create_model(name: str, /, *, seed: int | None = None, **kwargs: Any) -> Any:
    """Build the registered model ``name`` with keyword overrides of its config.

    ``seed`` draws the initial weights from that seed, leaving torch's global RNG as it was (torch seeds each
    process at random, so without it two processes build different networks); None: from the global RNG.
    """
    _load_zoo()
    if name not in _MODELS:
        raise UnknownNameError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}", field="model")
    try:
        if seed is None:
            return _MODELS[name](**kwargs)
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return _MODELS[name](**kwargs)
    except TypeError as exc:  # a keyword the model does not take (a config or sidecar for another model)
        text = str(exc)
        if "keyword argument" not in text and "required positional argument" not in text:
            raise
        raise ConfigError(
            f"model {name!r} cannot be built with {sorted(kwargs)}: {text}", field="model.kwargs"
        ) from None
