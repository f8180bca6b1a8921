"""``handpose serve`` as a user runs it: the command in its own process on 127.0.0.1, driven over real sockets.

The page is served; a WebSocket client that disconnects in the middle of a frame, or a raw socket that sends half
a request, leaves the server serving; single-image latency through the API is within 2 ms of the in-process
pipeline's (median, same image, same run); bad command lines are one-line errors with exit code 2.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from handpose.inference.estimator import PRETRAINED, pretrained_path

from .conftest import IN_CI, REPO, fixture_path

if not IN_CI:
    pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install -e '.[serve]')")
    pytest.importorskip("websockets", reason="the serve extra is not installed (pip install -e '.[serve]')")

STARTUP_S = 180.0  # the first start exports the shipped models to ONNX (needs torch), a few seconds; more under load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, proc: subprocess.Popen | None = None, timeout: float = STARTUP_S) -> dict:
    """Poll GET /healthz until it answers 200 (or the process dies, or ``timeout`` s pass)."""
    host, port = base.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"the server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            if resp.status == 200:
                return json.loads(resp.read())
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no answer from {base}/healthz within {timeout:g} s")


@contextmanager
def serve_process(*extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m handpose serve --port P [extra]`` in its own process; stopped (SIGTERM, then SIGKILL) at the end."""
    port = free_port()
    cmd = [sys.executable, "-m", "handpose", "serve", "--port", str(port), "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


@contextmanager
def live_server(app, **uvicorn_options) -> Iterator[str]:
    """An application served by uvicorn on a thread of this process (127.0.0.1, a free port); yields its URL."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = {"log_level": "warning", "ws": "websockets-sansio", **uvicorn_options}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield base
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def post_image(conn: http.client.HTTPConnection, data: bytes, ctype: str = "image/jpeg") -> tuple[int, dict]:
    conn.request("POST", "/v1/predict", body=data, headers={"Content-Type": ctype})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with serve_process() as (base, _proc):
        yield base


@pytest.fixture(scope="module")
def photo() -> Path:
    return fixture_path("mmpose", "onehand10k", "9.jpg")


def test_the_command_serves_the_page_and_the_api(served, photo):
    host, port = served.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/")
    page = conn.getresponse()
    assert page.status == 200 and b"/static/app.js" in page.read()
    status, rec = post_image(conn, photo.read_bytes())
    assert status == 200 and rec["width"] > 0 and len(rec["joint_names"]) == 21
    conn.request("GET", "/v1/models")
    models = json.loads(conn.getresponse().read())
    assert {m["backend"] for m in models["models"]} == {"onnx"}  # the default backend


def test_a_client_that_disconnects_mid_frame_or_mid_body_leaves_the_server_serving(served, photo):
    from websockets.sync.client import connect

    host, port = served.removeprefix("http://").split(":")
    data = photo.read_bytes()
    # 1. a WebSocket whose frame header announces more bytes than are sent, then the socket closes
    with connect(served.replace("http://", "ws://") + "/v1/stream") as ws:
        sock = ws.socket
        mask = os.urandom(4)
        header = bytes([0x82, 0x80 | 127]) + len(data).to_bytes(8, "big") + mask  # binary, masked, 64-bit length
        sock.sendall(header + bytes(b ^ mask[i % 4] for i, b in enumerate(data[:1000])))
        sock.shutdown(socket.SHUT_RDWR)
    # 2. garbage where a frame should be, then a good frame on the same connection
    with connect(served.replace("http://", "ws://") + "/v1/stream") as ws:
        ws.send(b"\x00\x01garbage")
        err = json.loads(ws.recv(timeout=30))
        assert err["frame"] == 0 and err["error"]["status"] == 415
        ws.send(data)
        rec = json.loads(ws.recv(timeout=30))
        assert rec["frame"] == 1 and "error" not in rec
    # 3. an HTTP request that announces a body and stops half-way
    raw = socket.create_connection((host, int(port)), timeout=10)
    raw.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 50000\r\n\r\n")
    raw.sendall(data[:1000])
    raw.close()
    # the server still answers, and forgets the broken streams
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    status, rec = post_image(conn, data)
    assert status == 200
    for _ in range(50):
        conn.request("GET", "/healthz")
        health = json.loads(conn.getresponse().read())
        if health["streams"] == 0 and health["inferences_running"] == 0:
            break
        time.sleep(0.1)
    assert health["streams"] == 0 and health["inferences_running"] == 0


def test_api_latency_is_within_2_ms_of_the_in_process_pipeline(served, photo):
    """Median over interleaved rounds, same image: POST /v1/predict on a kept-alive connection, against the same
    work in this process (decode the bytes, run the estimator, build the JSON record: what the server does)."""
    from handpose.inference import HandPoseEstimator
    from handpose.serve.config import ServeConfig
    from handpose.serve.service import predict_record

    est = HandPoseEstimator.from_pretrained(backend="onnx")
    data = photo.read_bytes()
    cap = ServeConfig().max_pixels
    host, port = served.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def measure(rounds: int = 40, warmup: int = 5) -> tuple[float, float, float]:
        api, local, gap = [], [], []
        for i in range(warmup + rounds):
            t = time.perf_counter()
            status, rec = post_image(conn, data)
            elapsed = time.perf_counter() - t
            assert status == 200
            t = time.perf_counter()
            mine = predict_record(est, data, None, cap)
            local_elapsed = time.perf_counter() - t
            assert len(mine["hands"]) == len(rec["hands"])
            if i >= warmup:
                api.append(1e3 * elapsed)
                local.append(1e3 * local_elapsed)
                gap.append(1e3 * (elapsed - local_elapsed))
        # the gap is the median of each round's pair: a slow spell of the machine delays both halves of a round
        return statistics.median(api), statistics.median(local), statistics.median(gap)

    # up to three tries: a burst of other work on the machine (another process's training) can delay the server's
    # wake-ups for a while; on an idle machine (CI) the first try is the figure
    tries = []
    for _ in range(3):
        api_ms, local_ms, gap_ms = measure()
        tries.append((round(api_ms, 2), round(local_ms, 2), round(gap_ms, 2)))
        print(f"median API {api_ms:.2f} ms, in-process {local_ms:.2f} ms, median gap {gap_ms:.2f} ms")
        if gap_ms <= 2.0:
            break
    if gap_ms > 2.0 and not IN_CI:
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
        if load > cores:  # other jobs hold the CPUs: every wake-up of the server waits for one; CI runs alone
            pytest.skip(f"the machine is busy (load {load:.1f} on {cores} cores); (API, in-process, gap ms): {tries}")
    assert gap_ms <= 2.0, f"(API ms, in-process ms, median gap ms) per try: {tries}"


def test_a_body_that_stops_arriving_is_a_408_and_the_server_goes_on(photo):
    from handpose.inference import HandPoseEstimator
    from handpose.serve import ServeConfig, create_app

    est = HandPoseEstimator.from_pretrained(backend="onnx")
    with live_server(create_app(est, ServeConfig(read_timeout_s=0.5))) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                        b"Content-Length: 50000\r\n\r\n" + photo.read_bytes()[:1000])  # fmt: skip
            t0 = time.monotonic()
            answer = b""
            while b"}}" not in answer:
                chunk = raw.recv(65536)
                if not chunk:
                    break
                answer += chunk
            waited = time.monotonic() - t0
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and 0.4 < waited < 5, (head, waited)
        assert json.loads(body)["error"]["code"] == "timeout"
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        assert post_image(conn, photo.read_bytes())[0] == 200


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handpose", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=STARTUP_S)  # fmt: skip


@pytest.mark.parametrize(
    "args, words",
    [
        (["--port", "70000"], "port number"),
        (["--max-upload-mb", "0"], "positive number"),
        (["--model", "/no/such/checkpoint"], "/no/such/checkpoint"),
        (["--model", str(pretrained_path(PRETRAINED["depth"])), "--backend", "torch"], "needs an RGB model"),
    ],
)
def test_bad_command_lines_are_one_line_errors(args, words):
    done = run_cli("serve", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
