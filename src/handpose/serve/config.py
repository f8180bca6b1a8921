"""The server's limits and the typed error every refused request becomes.

Every limit has a default that suits one small CPU machine and a ``handpose serve`` option. A request that breaks
a limit, or that sends something that is not an image, is answered with :class:`RequestError`: an HTTP status
(4xx, or 503 / 504 when the server is busy or slow), a short machine-readable ``code`` and one readable line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConfigError, HandposeError


class RequestError(HandposeError):
    """A request the server refuses (bad input, over a limit, server busy).

    Args:
        problem: what is wrong, in words.
        status: the HTTP status to answer with (400-499, 503 or 504).
        code: a short name for the kind of problem (``payload_too_large``, ``not_an_image``, ...).
        retry_after: seconds after which the client may try again (503); sent as the ``Retry-After`` header.
        field: the part of the request concerned (``body``, ``Content-Type``, ``frame 12``), if any.
    """

    def __init__(
        self,
        problem: str,
        *,
        status: int = 400,
        code: str = "bad_request",
        retry_after: int | None = None,
        field: str | None = None,
    ) -> None:
        self.status = int(status)
        self.code = code
        self.retry_after = retry_after
        super().__init__(problem, field=field)

    def to_json(self) -> dict:
        """The JSON body of the error answer: ``{"error": {"status", "code", "message"}}``."""
        return {"error": {"status": self.status, "code": self.code, "message": str(self)}}


@dataclass
class ServeConfig:
    """Limits of one server.

    Attributes:
        max_upload_bytes: largest request body / WebSocket frame accepted (bytes; default 10 MB).
        max_pixels: largest image accepted, width x height as the image's header declares it, checked before any
            decoding (default 40 megapixels).
        max_concurrent: inferences that run at once (one worker thread each).
        max_queue: requests that may wait for a worker; one more is answered 503 with ``Retry-After``.
        queue_timeout_s: longest wait for a worker before a 503.
        inference_timeout_s: longest decode + inference before a 504 (the worker finishes its work; its slot is
            freed only then, so a slow model never lets more work pile up than ``max_concurrent``).
        read_timeout_s: longest time to receive a request body before a 408.
        max_streams: open WebSocket streams at once (each keeps its own tracking state).
        stream_idle_timeout_s: a stream that sends nothing for this long is closed.
        retry_after_s: the ``Retry-After`` seconds sent with a 503.
    """

    max_upload_bytes: int = 10 * 1000 * 1000
    max_pixels: int = 40_000_000
    max_concurrent: int = 2
    max_queue: int = 32
    queue_timeout_s: float = 10.0
    inference_timeout_s: float = 30.0
    read_timeout_s: float = 15.0
    max_streams: int = 16
    stream_idle_timeout_s: float = 60.0
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        positive = ("max_upload_bytes", "max_pixels", "max_concurrent", "max_streams", "retry_after_s")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", field=name)
        if int(self.max_queue) < 0:
            raise ConfigError(f"must be >= 0, got {self.max_queue}", field="max_queue")
        for name in ("queue_timeout_s", "inference_timeout_s", "read_timeout_s", "stream_idle_timeout_s"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"must be a positive number of seconds, got {getattr(self, name)}", field=name)


def default_workers() -> int:
    """Concurrent inferences by default: one per CPU core, at most 4 (each model runs on one thread)."""
    return max(1, min(4, os.cpu_count() or 1))
