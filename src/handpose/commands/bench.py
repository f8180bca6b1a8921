"""``handpose bench``: inference speed per model and for the whole pipeline, PyTorch and ONNX Runtime.

Per model: latency at batch 1 (median, p95), throughput at batch 32, MACs, and the achieved share of this machine's
measured matmul peak (GFLOP/s of a 1024² float32 product on the same threads). Pipeline: detection + pose on a
320 × 240 frame, tracking mode, and the depth pipeline on a 320 × 240 depth frame. Default models: the shipped
small ones (``ssd_hand``, ``msahp_t``, ``light_depth_s``, ``gesturenet_digits``); frames: one
rendered by the synthetic world (test split, seed 0), or ``--frame IMAGE``. See
:mod:`handpose.inference.bench` for what each figure includes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._args import positive_float, positive_int

NAME = "bench"
HELP = "inference speed: latency / throughput per model and for the pipeline, torch and ONNX Runtime"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", default=[], metavar="CKPT",
                        help="checkpoint folder(s) (default: the shipped small models)")  # fmt: skip
    parser.add_argument("--backend", default="torch,onnx", help="comma-separated: torch, onnx")
    parser.add_argument("--threads", type=positive_int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--budget", type=positive_float, default=2.0, help="seconds of timed runs per measurement")
    parser.add_argument("--frame", type=Path, default=None, help="RGB image for the pipeline (resized to 320x240)")
    parser.add_argument("--no-pipeline", action="store_true", help="models only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")


def synthetic_frames(index: int = 0) -> tuple[Any, Any, Any]:
    """(RGB (240, 320, 3) uint8, depth (240, 320) mm, labels) of the first synthetic test frame at or after
    ``index`` that shows a hand (seed 0, standard preset)."""
    from ..data.synthetic import World, WorldConfig

    world = WorldConfig(seed=0, split="test")
    w = World(world)
    i = index
    while True:
        f = w.render(i)
        if bool(f.labels["has_hand"]):
            return f.image, f.depth, f.labels
        i += 1


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from ..data.image_io import read_image
    from ..errors import ConfigError
    from ..geometry import intrinsics_for
    from ..inference import bench as B
    from ..inference.estimator import PRETRAINED, HandPoseEstimator, pretrained_path
    from ..io import write_json_atomic

    backends = tuple(b.strip() for b in args.backend.split(",") if b.strip())
    bad = [b for b in backends if b not in ("torch", "onnx")]
    if bad or not backends:
        raise ConfigError(f"backends must be torch and/or onnx, got {args.backend!r}", field="--backend")
    models = [Path(m) for m in args.model] or [pretrained_path(n) for n in PRETRAINED.values()]
    peak = B.matmul_peak_gflops(args.threads)
    print(f"matmul peak (float32 torch.mm, 256²-1024², {args.threads} thread(s)): {peak:.1f} GFLOP/s")
    rows: list[dict[str, Any]] = []
    for m in models:
        rows += B.bench_model(m, backends=backends, threads=args.threads, budget_s=args.budget, peak_gflops=peak)
    print(B.format_table(rows, B.MODEL_COLUMNS))
    pipe: list[dict[str, Any]] = []
    if not args.no_pipeline:
        rgb, depth, labels = synthetic_frames()
        if args.frame is not None:
            rgb = cv2.resize(read_image(args.frame), (320, 240), interpolation=cv2.INTER_AREA)
        intr = intrinsics_for("synthetic")
        for backend in backends:
            roles = {}
            for m in models:
                from ..inference.backends import load_model
                from ..inference.estimator import role_of

                model = load_model(m, backend, threads=args.threads)
                roles.setdefault(role_of(model), model)
            rgb_models = [roles[r] for r in ("detector", "pose") if r in roles]
            if len(rgb_models) == 2:
                est = HandPoseEstimator(rgb_models + ([roles["gesture"]] if "gesture" in roles else []))
                pipe += B.bench_pipeline(est, rgb, name=f"RGB 320x240 ({backend})", budget_s=args.budget * 1.5)
            if "depth" in roles:
                est = HandPoseEstimator([roles["depth"]])
                pipe += B.bench_pipeline(est, np.asarray(depth, np.float32), name=f"depth 320x240 ({backend})",
                                         budget_s=args.budget * 1.5, depth_kwargs={"intrinsics": intr})  # fmt: skip
        print(B.format_table(pipe, B.PIPELINE_COLUMNS))
        if any(r["hands"] == 0 and r["mode"] == "detection + pose" for r in pipe):
            print("note: no hand was found on the RGB frame, so its pipeline rows time detection alone; pass "
                  "--frame PHOTO (for example examples/webcam_1.jpg) to time a frame with a hand")  # fmt: skip
    if args.json is not None:
        write_json_atomic(args.json, {"matmul_peak_gflops": peak, "threads": args.threads, "models": rows,
                                      "pipeline": pipe})  # fmt: skip
    return 0
