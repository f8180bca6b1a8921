"""``handpose serve``: the web page, the HTTP API and the WebSocket stream (see :mod:`handpose.serve`).

Examples::

    handpose serve                                   # http://127.0.0.1:8000, the shipped models, ONNX Runtime
    handpose serve --port 9000 --model runs/det/best --model runs/pose/best --backend torch
    handpose serve --max-upload-mb 4 --workers 1 --queue 8

It binds the loopback address unless ``--host`` says otherwise; the server has no authentication, so expose it to
a network only behind something that has. Needs the ``serve`` extra (``pip install handpose[serve]``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._args import nonnegative_int, positive_float, positive_int

NAME = "serve"
HELP = "serve a web page and an HTTP / WebSocket API for hand pose estimation (needs handpose[serve])"

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def port_number(text: str) -> int:
    """An argparse type: a TCP port 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..serve.config import ServeConfig, default_workers

    d = ServeConfig()
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="CKPT",
        help="checkpoint folder or .onnx file (repeatable; default: the shipped small models)",
    )
    parser.add_argument("--backend", choices=("onnx", "torch"), default="onnx", help="runtime (default onnx)")
    parser.add_argument("--no-gesture", action="store_true", help="without the shipped gesture model")
    parser.add_argument("--max-hands", type=positive_int, default=2, help="most hands per frame (default 2)")
    parser.add_argument("--threads", type=positive_int, default=None, help="intra-op threads per model")
    parser.add_argument("--max-upload-mb", type=positive_float, default=d.max_upload_bytes / 1e6,
                        help="largest image or frame accepted, in MB (default %(default)g)")  # fmt: skip
    parser.add_argument(
        "--max-megapixels",
        type=positive_float,
        default=d.max_pixels / 1e6,
        help="largest image accepted, width x height as declared, in megapixels (default %(default)g)",
    )
    parser.add_argument("--workers", type=positive_int, default=default_workers(),
                        help="inferences at once (default: one per core, at most 4; here %(default)s)")  # fmt: skip
    parser.add_argument("--queue", type=nonnegative_int, default=d.max_queue,
                        help="requests that may wait for a worker before 503 (default %(default)s)")  # fmt: skip
    parser.add_argument("--timeout", type=positive_float, default=d.inference_timeout_s,
                        help="seconds an inference may take before 504 (default %(default)g)")  # fmt: skip
    parser.add_argument("--max-streams", type=positive_int, default=d.max_streams,
                        help="WebSocket streams open at once (default %(default)s)")  # fmt: skip
    parser.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="info")


def build_estimator(args: argparse.Namespace) -> Any:
    """The given checkpoints, or the shipped RGB models (``HandPoseEstimator.from_pretrained``)."""
    from ..inference.estimator import HandPoseEstimator

    kwargs = {"backend": args.backend, "threads": args.threads, "max_hands": args.max_hands}
    if args.model:
        return HandPoseEstimator(args.model, **kwargs)
    return HandPoseEstimator.from_pretrained("rgb", gesture=not args.no_gesture, **kwargs)


def build_config(args: argparse.Namespace) -> Any:
    from ..serve.config import ServeConfig

    return ServeConfig(
        max_upload_bytes=max(1, int(args.max_upload_mb * 1e6)),
        max_pixels=max(1, int(args.max_megapixels * 1e6)),
        max_concurrent=args.workers,
        max_queue=args.queue,
        inference_timeout_s=args.timeout,
        max_streams=args.max_streams,
    )


def warm_up(est: Any) -> None:
    """One inference on a blank frame, so that the first request does not pay for lazy initialisation."""
    import numpy as np

    est(np.zeros((240, 320, 3), np.uint8), modality="rgb")


def check_listen(host: str, port: int) -> None:
    """Raise :class:`~handpose.errors.ConfigError` when the server could not listen on ``host``:``port`` (an unknown
    host, a port in use or not allowed): one line before any model is loaded, where the server would otherwise print
    its log and exit with its own code. The port is released again at once."""
    import socket

    from ..errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"cannot listen on {host!r}: unknown host ({exc})", field="--host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: a closed port is free
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})", field="--port") from None


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..serve.app import create_app
    except ImportError as exc:
        from ..errors import ConfigError

        raise ConfigError(f"{exc.name or 'a package'} is not installed: pip install 'handpose[serve]'",
                          field="serve") from None  # fmt: skip
    cfg = build_config(args)
    check_listen(args.host, args.port)
    est = build_estimator(args)
    app = create_app(est, cfg)
    warm_up(est)
    names = ", ".join(f"{m.info.name} ({role})" for role, m in est.models.items())
    shown = f"[{args.host}]" if ":" in args.host else args.host
    sys.stderr.write(f"handpose: serving {names} with {args.backend} on http://{shown}:{args.port}/\n")
    if args.host not in LOOPBACK:
        sys.stderr.write("handpose: warning: the server has no authentication and is reachable from the network\n")
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws="websockets-sansio",
        # a frame over the upload limit (up to twice it) is answered with a JSON error; beyond, the protocol closes
        ws_max_size=2 * cfg.max_upload_bytes + 1024,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_keep_alive=5,
        limit_concurrency=4 * (cfg.max_concurrent + cfg.max_queue + cfg.max_streams) + 16,
        server_header=False,
    )
    return 0
