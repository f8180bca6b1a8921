"""Load on ``handpose serve``: N concurrent clients (1, 4, 16) on 127.0.0.1, images and stream frames.

The server runs as the user runs it (``python -m handpose serve``, the shipped models, ONNX Runtime, its default
limits) in its own process. For each number of clients, each client sends a fixed number of images
(``POST /v1/predict``, one kept-alive connection per client) and then, in a second phase, a fixed number of frames
on its own WebSocket stream (``WS /v1/stream``, one frame in flight, as the page does). Per phase: throughput
(answers per second), latency p50 / p95 / p99 (ms, as the client sees it), errors (anything but 200 / a record)
and deliberate 503s (``busy``) counted apart. The server's resident memory (VmRSS) is read after a warm-up and at
the end. Before the load, single-image latency through the API is compared with the in-process pipeline (decode,
estimator, JSON record: what the server does), median over interleaved rounds of the same image.

Images: ``examples/webcam_1.jpg`` (400 x 300, two hands the shipped models find); stream frames: the first frames
of the ASL video at the page's size (longer side 640, JPEG quality 85). Without the real data (``--realdata``,
default ``../shared/realdata``) both come from the synthetic world.

Run (from the repository root)::

    .venv/bin/python benchmarks/serve_load.py [--clients 1,4,16] [--requests 40] [--frames 40] [--json OUT]

Everything is bounded: a fixed count per client, a timeout per request and per phase; loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
REQUEST_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    return json.loads(resp.read())


def start_server(port: int, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "handpose", "serve", "--port", str(port), "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if get_json(port, "/healthz").get("status") == "ok":
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not answer /healthz within 300 s")


def load_inputs(realdata: Path, frames: int) -> tuple[bytes, list[bytes], str]:
    """(image bytes, stream frame bytes, where they come from)."""
    photo = Path(__file__).resolve().parents[1] / "examples" / "webcam_1.jpg"
    video = realdata / "asl_video" / "asl_hand.25fps.mp4"
    out: list[bytes] = []
    if photo.is_file() and video.is_file():
        cap = cv2.VideoCapture(str(video))
        while len(out) < frames:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            scale = min(1.0, 640 / max(h, w))
            small = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            out.append(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        cap.release()
        return photo.read_bytes(), out, f"{photo.name} and {video.name} from {realdata}"
    from handpose.data.synthetic import World, WorldConfig

    world = World(WorldConfig(seed=0, split="test"))
    i = 0
    while len(out) < frames + 1 and i < 50 * (frames + 1):
        f = world.render(i)
        i += 1
        if bool(f.labels["has_hand"]):
            out.append(cv2.imencode(".jpg", cv2.cvtColor(f.image, cv2.COLOR_RGB2BGR))[1].tobytes())
    return out[0], out[1:], "synthetic world frames (no real data found)"


def percentiles(ms: list[float]) -> dict[str, float | None]:
    if not ms:
        return {"p50": None, "p95": None, "p99": None}
    a = np.asarray(ms)
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}


def image_client(port: int, data: bytes, count: int, results: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    for _ in range(count):
        t = time.perf_counter()
        try:
            conn.request("POST", "/v1/predict", body=data, headers={"Content-Type": "image/jpeg"})
            resp = conn.getresponse()
            body = resp.read()
            status = resp.status
            ok = status == 200 and "hands" in json.loads(body)
        except (OSError, http.client.HTTPException, ValueError):
            status, ok = -1, False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        results.append((1e3 * (time.perf_counter() - t), status, ok))
        if status == 503:
            time.sleep(1.0)  # as Retry-After asks


def stream_client(port: int, frames: list[bytes], results: list) -> None:
    from websockets.sync.client import connect

    try:
        with connect(f"ws://127.0.0.1:{port}/v1/stream", max_size=None, open_timeout=60) as ws:
            for k, data in enumerate(frames):
                t = time.perf_counter()
                ws.send(data)
                answer = json.loads(ws.recv(timeout=REQUEST_TIMEOUT_S))
                err = answer.get("error")
                status = err["status"] if err else 200
                ok = err is None and answer.get("frame") == k
                results.append((1e3 * (time.perf_counter() - t), status, ok))
                if status == 503:
                    time.sleep(1.0)
    except Exception:  # noqa: BLE001 - a failed connection counts as errors for every frame it did not send
        while len(results) < len(frames):
            results.append((float("nan"), -1, False))


def run_phase(kind: str, clients: int, port: int, image: bytes, frames: list[bytes], count: int) -> dict[str, Any]:
    per_client: list[list] = [[] for _ in range(clients)]
    if kind == "image":
        targets = [threading.Thread(target=image_client, args=(port, image, count, r)) for r in per_client]
    else:
        targets = [threading.Thread(target=stream_client, args=(port, frames[:count], r)) for r in per_client]
    t0 = time.perf_counter()
    for t in targets:
        t.start()
    for t in targets:
        t.join(REQUEST_TIMEOUT_S * count)
    wall = time.perf_counter() - t0
    results = [r for rs in per_client for r in rs]
    ok = [ms for ms, _status, good in results if good]
    busy = sum(1 for _ms, status, _good in results if status == 503)
    errors = sum(1 for _ms, status, good in results if not good and status != 503)
    return {
        "kind": kind,
        "clients": clients,
        "requests": len(results),
        "ok": len(ok),
        "errors": errors,
        "busy_503": busy,
        "seconds": round(wall, 2),
        "throughput_per_s": round(len(ok) / wall, 2),
        **percentiles(ok),
    }


def latency_vs_in_process(port: int, image: bytes, rounds: int) -> dict[str, Any]:
    """Median ms of POST /v1/predict and of the same work in this process, interleaved."""
    from handpose.inference import HandPoseEstimator
    from handpose.serve.config import ServeConfig
    from handpose.serve.service import predict_record

    est = HandPoseEstimator.from_pretrained(backend="onnx")
    cap = ServeConfig().max_pixels
    estimator_only_frame = cv2.cvtColor(cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR),
                                        cv2.COLOR_BGR2RGB)  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    api, local, est_only = [], [], []
    for i in range(rounds + 5):
        t = time.perf_counter()
        conn.request("POST", "/v1/predict", body=image, headers={"Content-Type": "image/jpeg"})
        resp = conn.getresponse()
        resp.read()
        a = time.perf_counter() - t
        t = time.perf_counter()
        predict_record(est, image, None, cap)
        b = time.perf_counter() - t
        t = time.perf_counter()
        est(estimator_only_frame)
        c = time.perf_counter() - t
        if i >= 5 and resp.status == 200:
            api.append(1e3 * a)
            local.append(1e3 * b)
            est_only.append(1e3 * c)
    m_api, m_local = statistics.median(api), statistics.median(local)
    return {
        "rounds": len(api),
        "api_median_ms": round(m_api, 2),
        "in_process_median_ms": round(m_local, 2),
        "estimator_only_median_ms": round(statistics.median(est_only), 2),
        "gap_ms": round(m_api - m_local, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--requests", type=int, default=40, help="images per client per phase")
    parser.add_argument("--frames", type=int, default=40, help="stream frames per client per phase")
    parser.add_argument("--latency-rounds", type=int, default=40)
    parser.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata")
    parser.add_argument("--server-args", default="", help="extra arguments for handpose serve (e.g. '--workers 1')")
    parser.add_argument("--json", type=Path, default=None, help="write the results here (JSON)")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    if not clients or min(clients) < 1 or args.requests < 1 or args.frames < 1:
        raise SystemExit("--clients, --requests and --frames must be positive")

    image, frames, origin = load_inputs(args.realdata, args.frames)
    port = free_port()
    proc = start_server(port, args.server_args.split())
    try:
        health = get_json(port, "/healthz")
        rss_start = rss_mb(proc.pid)
        # warm-up: every code path once, a few times
        run_phase("image", 2, port, image, frames, 10)
        run_phase("stream", 2, port, image, frames, 10)
        rss_warm = rss_mb(proc.pid)
        latency = latency_vs_in_process(port, image, args.latency_rounds)
        rows = []
        for n in clients:
            for kind in ("image", "stream"):
                row = run_phase(kind, n, port, image, frames, args.requests if kind == "image" else args.frames)
                row["server_rss_mb"] = round(rss_mb(proc.pid), 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
        rss_end = rss_mb(proc.pid)
        final_health = get_json(port, "/healthz")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },  # fmt: skip
        "server": {"models": health["models"], "args": args.server_args or "(defaults)"},
        "inputs": origin,
        "memory_mb": {
            "start": round(rss_start, 1),
            "after_warm_up": round(rss_warm, 1),
            "end": round(rss_end, 1),
            "end_vs_warm_up_pct": round(100 * (rss_end - rss_warm) / rss_warm, 2),
        },  # fmt: skip
        "single_image_latency": latency,
        "phases": rows,
        "server_counters": {k: final_health[k] for k in ("completed", "refused_busy", "timed_out")},
    }
    print()
    print(f"inputs: {origin}; server: {', '.join(health['models'])}; {os.cpu_count()} CPUs")
    print(f"single image: API {latency['api_median_ms']} ms, in-process {latency['in_process_median_ms']} ms "
          f"(estimator alone {latency['estimator_only_median_ms']} ms), gap {latency['gap_ms']} ms")  # fmt: skip
    print("| clients | kind | requests | ok | errors | 503 | answers/s | p50 ms | p95 ms | p99 ms | server RSS MB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['kind']} | {r['requests']} | {r['ok']} | {r['errors']} | {r['busy_503']} | "
              f"{r['throughput_per_s']} | {r['p50']} | {r['p95']} | {r['p99']} | {r['server_rss_mb']} |")  # fmt: skip
    mem = result["memory_mb"]
    print(f"server memory: {mem['start']} MB at start, {mem['after_warm_up']} MB after warm-up, {mem['end']} MB at "
          f"the end ({mem['end_vs_warm_up_pct']:+.2f} %)")  # fmt: skip
    if args.json is not None:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, result)


if __name__ == "__main__":
    main()
