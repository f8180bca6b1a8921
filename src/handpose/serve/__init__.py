"""``handpose serve``: a web page, an HTTP API and a WebSocket stream over :class:`~handpose.HandPoseEstimator`.

- :mod:`.app`: the FastAPI application (:func:`create_app`), its routes and its JSON errors.
- :mod:`.service`: the work itself, framework-free: images and stream frames in, ``handpose predict``'s JSON out.
- :mod:`.gate`: bounded concurrent inferences, a bounded queue, timeouts (503 / 504).
- :mod:`.images`: the upload's format and declared size read from its header before decoding.
- :mod:`.config`: :class:`ServeConfig` (the limits) and :class:`RequestError` (every refusal).
- ``static/``: the page (HTML, plain JavaScript, CSS; no build step).

Needs the ``serve`` extra (``pip install handpose[serve]``: FastAPI, uvicorn, websockets, python-multipart);
:mod:`.config`, :mod:`.images`, :mod:`.gate` and :mod:`.service` import without it.
"""

from __future__ import annotations

from typing import Any

from .config import RequestError, ServeConfig

__all__ = ["RequestError", "ServeConfig", "create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See :func:`handpose.serve.app.create_app` (imported on use: it needs FastAPI)."""
    from .app import create_app as _create

    return _create(*args, **kwargs)
