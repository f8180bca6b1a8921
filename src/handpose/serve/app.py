"""The FastAPI application: the page, the HTTP API and the WebSocket stream over one :class:`HandPoseEstimator`.

Routes:

``GET /``
    the web page (static HTML and plain JavaScript from ``handpose/serve/static``).
``POST /v1/predict``
    one image (raw ``image/*`` or ``application/octet-stream`` bytes, or a ``multipart/form-data`` file) -> the
    JSON record ``handpose predict`` writes for an image, plus ``timing_ms``.
``WS /v1/stream``
    binary messages, each one encoded frame (JPEG, PNG, ...) -> one JSON text message per frame, in order: the
    frame's record (as a line of ``handpose predict VIDEO``'s JSONL, with ``frame``, ``timestamp_s`` and
    ``timing_ms``) or ``{"frame": N, "error": {...}}``. The text message ``{"reset": true}`` forgets the tracked
    hands. Tracking and smoothing state is kept per connection. A browser page from another origin is refused.
``GET /healthz``, ``GET /v1/models``
    liveness and load; the loaded models with their cost and card.
``GET /openapi.json``
    FastAPI's schema of the API (its viewers at /docs and /redoc are off: they load scripts from a CDN).

Every error is JSON, ``{"error": {"status", "code", "message"}}``, with a 4xx status (503 + ``Retry-After`` when
busy, 504 past the inference timeout); nothing a client sends names a file or a model on the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import CheckpointError, HandposeError, one_line
from ..inference.estimator import HandPoseEstimator
from .config import RequestError, ServeConfig
from .gate import InferenceGate
from .images import check_image
from .service import StreamSession, describe_models, predict_record

log = logging.getLogger("handpose.serve")

#: raw image bodies accepted by POST /v1/predict (the format itself is read from the bytes)
RAW_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/x-ms-bmp", "image/webp", "application/octet-stream")
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
_ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "timeout",
                413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable"}  # fmt: skip


def _static(name: str) -> str:
    return resources.files("handpose.serve").joinpath("static", name).read_text(encoding="utf-8")


def error_response(exc: RequestError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes (from Content-Length,
    or while it streams in) and with 408 when it takes longer than ``timeout_s`` to arrive."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(f"not a byte count: {declared[:40]!r}", field="Content-Length")
        if int(declared) > limit:
            raise RequestError(f"{int(declared):,} bytes, over the limit of {limit:,} bytes", status=413,
                               code="payload_too_large", field="body")  # fmt: skip

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(f"over the limit of {limit:,} bytes", status=413,
                                   code="payload_too_large", field="body")  # fmt: skip
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        async with asyncio.timeout(timeout_s):  # no extra task, unlike wait_for
            return await collect()
    except TimeoutError:
        raise RequestError(f"did not arrive within {timeout_s:g} s", status=408, code="timeout",
                           field="body") from None  # fmt: skip


async def image_from_request(request: Request, cfg: ServeConfig) -> tuple[bytes, str | None]:
    """The image bytes and the client's file name (multipart) of a POST /v1/predict request."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data" and ctype not in RAW_TYPES:
        shown = ctype or "none"
        raise RequestError(f"{shown!r} is not accepted; send image bytes (image/jpeg, image/png, ...) "
                           "or multipart/form-data with one image file", status=415, code="unsupported_media_type",
                           field="Content-Type")  # fmt: skip
    body = await read_body(request, cfg.max_upload_bytes, cfg.read_timeout_s)
    if not body:
        raise RequestError("empty; send an image", field="body")
    if ctype != "multipart/form-data":
        return body, None

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
    except (StarletteHTTPException, ValueError, AssertionError) as exc:
        detail = getattr(exc, "detail", None) or one_line(exc)
        raise RequestError(f"malformed multipart form ({detail})", field="body") from None
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise RequestError("the multipart form holds no file; send the image as a file field", field="body")
        upload = files[0]
        return await upload.read(), upload.filename
    finally:
        await form.close()


def create_app(
    estimator: HandPoseEstimator,
    config: ServeConfig | None = None,
) -> FastAPI:
    """The application serving ``estimator`` (which needs an RGB pipeline) within ``config``'s limits."""
    cfg = config or ServeConfig()
    if "rgb" not in estimator.modalities:
        raise CheckpointError("the server needs an RGB model (a detector and / or an RGB pose model); the models "
                              f"given are for {', '.join(estimator.modalities)} frames")  # fmt: skip
    gate = InferenceGate(cfg.max_concurrent, cfg.max_queue, cfg.queue_timeout_s, cfg.inference_timeout_s,
                         cfg.retry_after_s)  # fmt: skip
    page = _static("index.html")
    assets = {name: _static(name) for name in STATIC_FILES}
    started = time.monotonic()
    state: dict[str, Any] = {"streams": 0, "models": None}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        gate.close()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # FastAPI's schema viewers load their scripts from a CDN; the schema itself is served
        redoc_url=None,
        title="handpose",
        version=__version__,
        description="Hand detection, 2D pose and gestures over HTTP and WebSocket (handpose serve).",
    )
    app.state.estimator = estimator
    app.state.config = cfg
    app.state.gate = gate

    @app.exception_handler(RequestError)
    async def _request_error(_request: Request, exc: RequestError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else one_line(Exception(exc.detail))
        err = RequestError(message, status=exc.status_code, code=_ERROR_CODES.get(exc.status_code, "error"))
        resp = error_response(err)
        for key, value in (exc.headers or {}).items():
            resp.headers[key] = value
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(RequestError(f"{where}: {first.get('msg', 'invalid request')}", status=422,
                                           code="unprocessable"))  # fmt: skip

    @app.exception_handler(HandposeError)
    async def _handpose_error(_request: Request, exc: HandposeError) -> JSONResponse:
        return error_response(RequestError(one_line(exc), status=422, code="unprocessable"))

    @app.exception_handler(Exception)
    async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return error_response(RequestError("internal server error (see the server log)", status=500,
                                           code="internal"))  # fmt: skip

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in assets:  # a fixed list: no path from the client ever reaches the file system
            raise RequestError(f"no static file {name[:60]!r}", status=404, code="not_found")
        return Response(assets[name], media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", summary="liveness and load")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - started, 3),
            "models": [m.info.name for m in estimator.models.values()],
            "inferences_running": gate.running,
            "inferences_queued": gate.queued,
            "completed": gate.completed,
            "refused_busy": gate.refused,
            "timed_out": gate.timed_out,
            "streams": state["streams"],
        }

    @app.get("/v1/models", summary="the loaded models, their cost and card")
    async def models() -> dict[str, Any]:
        if state["models"] is None:
            state["models"] = await gate.run(describe_models, estimator)
        return state["models"]

    @app.post(
        "/v1/predict",
        summary="hands in one image",
        description="The body is the image (image/jpeg, image/png, image/bmp, image/webp or "
        "application/octet-stream), or multipart/form-data with one file. The answer is the record "
        "`handpose predict IMAGE` writes: `hands` (our fields) and COCO-style `annotations`.",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {
                        "schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
                    },
                },
            }
        },
    )
    async def predict(request: Request) -> Response:
        data, filename = await image_from_request(request, cfg)
        check_image(data, cfg.max_pixels)  # cheap refusals before queueing for a worker
        rec = await gate.run(predict_record, estimator, data, filename, cfg.max_pixels)
        timing = rec.get("timing_ms", {})
        server_timing = ", ".join(f"{k};dur={v}" for k, v in timing.items())
        return JSONResponse(rec, headers={"Server-Timing": server_timing} if server_timing else None)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket) -> None:
        origin = ws.headers.get("origin")
        if origin and urlsplit(origin).netloc.lower() != ws.headers.get("host", "").lower():
            # browsers let any page open a WebSocket anywhere: only this server's own page may stream
            await ws.accept()
            refused = RequestError(f"streams are accepted from this server's own page, not from {origin[:80]!r}",
                                   status=403, code="forbidden_origin")  # fmt: skip
            await ws.send_text(json.dumps(refused.to_json()))
            await ws.close(code=1008, reason="origin not allowed")
            return
        if state["streams"] >= cfg.max_streams:
            await ws.accept()
            busy = RequestError(f"too many streams open ({cfg.max_streams})", status=503, code="busy",
                                retry_after=cfg.retry_after_s)  # fmt: skip
            await ws.send_text(json.dumps(busy.to_json()))
            await ws.close(code=1013, reason="too many streams")
            return
        await ws.accept()
        state["streams"] += 1
        session = StreamSession(estimator, cfg.max_pixels)
        t0 = time.monotonic()
        index = 0
        try:
            while True:
                try:
                    async with asyncio.timeout(cfg.stream_idle_timeout_s):
                        msg = await ws.receive()
                except TimeoutError:
                    await ws.close(code=1001, reason=f"idle for {cfg.stream_idle_timeout_s:g} s")
                    return
                if msg["type"] == "websocket.disconnect":
                    return
                reply = await _stream_message(session, msg, index, time.monotonic() - t0)
                if "frame" in reply:
                    index += 1
                try:
                    text = json.dumps(reply, allow_nan=False)
                except ValueError:  # a non-finite number: a bug, reported for this frame only
                    log.exception("frame %d: the record is not valid JSON", index - 1)
                    text = json.dumps(
                        {
                            "frame": index - 1,
                            **RequestError("internal server error", status=500, code="internal").to_json(),
                        }
                    )
                await ws.send_text(text)
        except WebSocketDisconnect:
            return
        finally:
            state["streams"] -= 1

    async def _stream_message(session: StreamSession, msg: dict[str, Any], index: int, t: float) -> dict[str, Any]:
        data, text = msg.get("bytes"), msg.get("text")
        try:
            if data is None:
                return _control(session, text)
            if len(data) > cfg.max_upload_bytes:
                raise RequestError(f"the frame is {len(data):,} bytes; the limit is {cfg.max_upload_bytes:,} bytes",
                                   status=413, code="payload_too_large")  # fmt: skip
            if not data:
                raise RequestError("empty frame; send the encoded image as a binary message")
            check_image(data, cfg.max_pixels)
            return await gate.run(session.handle, data, index, round(t, 6))
        except RequestError as exc:
            out = exc.to_json()
            if data is not None:
                out = {"frame": index, **out}
                if exc.retry_after is not None:
                    out["error"]["retry_after_s"] = exc.retry_after
            return out

    def _control(session: StreamSession, text: str | None) -> dict[str, Any]:
        try:
            message = json.loads(text or "")
        except (ValueError, RecursionError):
            message = None
        if isinstance(message, dict) and message.get("reset") is True:
            session.reset()
            return {"reset": True}
        raise RequestError('a text message must be the JSON control message {"reset": true}; send frames as '
                           "binary messages", code="bad_message")  # fmt: skip

    return app
