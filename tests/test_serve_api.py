"""``handpose serve``'s API through FastAPI's test client: every endpoint, the limits, and every error path as a
4xx JSON error after which the next request still succeeds. The answers are checked against what ``handpose
predict`` and the in-process estimator compute on the same bytes."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from .conftest import IN_CI, fixture_path

if not IN_CI:  # make test installs the serve extras; under CI a missing one fails at the imports below
    pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve,serve-test]')")
    pytest.importorskip("starlette.testclient", reason="no httpx2 / httpx for FastAPI's test client")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from handpose.cli import main as cli  # noqa: E402
from handpose.inference import HandPoseEstimator  # noqa: E402
from handpose.inference.results import frame_record  # noqa: E402
from handpose.inference.tracking import VideoTracker  # noqa: E402
from handpose.serve import RequestError, ServeConfig, create_app  # noqa: E402
from handpose.serve.gate import InferenceGate  # noqa: E402
from handpose.serve.images import check_image, decode_rgb, image_header  # noqa: E402
from handpose.serve.service import safe_name  # noqa: E402
from handpose.skeleton import BONES  # noqa: E402

FREIHAND = ("00000355.jpg", "00017620.jpg", "00032915.jpg", "00050180.jpg")


@pytest.fixture(scope="module")
def est() -> HandPoseEstimator:
    return HandPoseEstimator.from_pretrained(backend="onnx")


@pytest.fixture(scope="module")
def client(est):
    with TestClient(create_app(est, ServeConfig(max_upload_bytes=400_000, max_pixels=4_000_000))) as c:
        yield c


@pytest.fixture(scope="module")
def photo() -> Path:
    return fixture_path("mmpose", "onehand10k", "9.jpg")


def decode_like_read_image(data: bytes) -> np.ndarray:
    """What handpose.data.image_io.read_image makes of these bytes (an independent decode for comparisons)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def assert_json_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["status"] == status and isinstance(err["code"], str)
    assert err["message"] and "\n" not in err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


def assert_still_serving(client, photo: Path) -> None:
    resp = client.post("/v1/predict", content=photo.read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["width"] > 0


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` (8-bit RGB), with one small IDAT and IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_declaring(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a baseline JPEG) with its SOF0 size fields rewritten."""
    i = data.index(b"\xff\xc0")
    return data[: i + 5] + struct.pack(">HH", height, width) + data[i + 9 :]


# --------------------------------------------------------------------------------------------- headers and decoding


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp"])
@pytest.mark.parametrize("size", [(37, 21), (640, 480), (1, 300)])
def test_header_size_matches_what_was_encoded(ext, size):
    w, h = size
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    header = image_header(buf.tobytes())
    assert (header.width, header.height) == (w, h)
    assert header.format == {".jpg": "jpeg", ".png": "png", ".bmp": "bmp", ".webp": "webp"}[ext]
    np.testing.assert_array_equal(decode_rgb(buf.tobytes(), 10**7), decode_like_read_image(buf.tobytes()))


def test_lossless_webp_and_progressive_jpeg_headers():
    img = np.zeros((123, 77, 3), np.uint8)
    ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless (VP8L)
    assert ok and buf.tobytes()[12:16] == b"VP8L"
    assert (image_header(buf.tobytes()).width, image_header(buf.tobytes()).height) == (77, 123)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok and b"\xff\xc2" in buf.tobytes()
    assert (image_header(buf.tobytes()).width, image_header(buf.tobytes()).height) == (77, 123)


def test_pixel_cap_refuses_before_decoding(monkeypatch):
    def no_decode(*_a, **_k):
        raise AssertionError("the decoder ran on an image over the pixel cap")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    for data in (png_declaring(100_000, 100_000), png_declaring(7000, 7000)):
        with pytest.raises(RequestError) as info:
            decode_rgb(data, 40_000_000)
        assert info.value.status == 413 and info.value.code == "too_many_pixels"
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(RequestError) as info:
        decode_rgb(jpeg_declaring(buf.tobytes(), 65_000, 65_000), 40_000_000)
    assert info.value.status == 413 and "65000 x 65000" in str(info.value)


@pytest.mark.parametrize(
    "data, status",
    [
        (b"hello, world", 415),
        (b"GIF89a" + b"\x00" * 40, 415),
        (b"\xff\xd8\xff", 400),  # a JPEG cut inside its first marker
        (b"\x89PNG\r\n\x1a\n\x00\x00", 400),
        (png_declaring(0, 10), 400),
    ],
)
def test_bad_headers_are_typed_errors(data, status):
    with pytest.raises(RequestError) as info:
        check_image(data, 10**7)
    assert info.value.status == status


def test_safe_name_keeps_only_a_printable_last_component():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\hand.jpg") == "hand.jpg"
    assert safe_name("a\x00b\nc.jpg") == "abc.jpg"
    assert safe_name(None) == safe_name("") == safe_name("/") == "upload"
    assert len(safe_name("x" * 1000 + ".jpg")) == 120


# --------------------------------------------------------------------------------------------- endpoints


def test_healthz_and_openapi(client, est):
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["models"] == [m.info.name for m in est.models.values()]
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/healthz", "/v1/models"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]


def test_models_lists_the_loaded_models_with_cost_and_card(client, est):
    from handpose.engine.checkpoint import load_checkpoint
    from handpose.inference.estimator import PRETRAINED, pretrained_path

    info = client.get("/v1/models").json()
    assert [m["role"] for m in info["models"]] == list(est.models)
    assert [m["name"] for m in info["models"]] == [m.info.name for m in est.models.values()]
    assert info["skeleton"]["bones"] == [list(b) for b in BONES]
    by_name = {m["name"]: m for m in info["models"]}
    for key in ("detector", "pose2d", "gesture"):
        module, side = load_checkpoint(pretrained_path(PRETRAINED[key]))
        entry = by_name[side["model"]]  # listed by model name (the shipped folder may be named otherwise)
        assert entry["cost"]["params"] == sum(p.numel() for p in module.parameters())
        assert entry["cost"]["latency_ms"] > 0 and entry["backend"] == "onnx"
        assert entry["card"]["weights_sha256"] == side["weights_sha256"]
        assert "/" not in entry["file"]  # the server's paths are not shown
    assert by_name[est.models["detector"].info.name]["cost"]["macs"] > 0


def test_page_and_its_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js">' in page.text and 'id="view"' in page.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "getUserMedia" in js.text and "/v1/stream" in js.text
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert_json_error(client.get("/static/..%2Fapp.py"), 404)
    assert_json_error(client.get("/static/index.html.bak"), 404)


def test_predict_answers_what_handpose_predict_writes(client, photo, tmp_path):
    """The same image through `handpose predict` (a JSON file) and through the API: the same record."""
    assert cli(["predict", str(photo), "--out", str(tmp_path), "--backend", "onnx", "--quiet"]) == 0
    expected = json.loads((tmp_path / f"{photo.stem}.json").read_text())
    resp = client.post("/v1/predict", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got.pop("source") == photo.name and expected.pop("source") == str(photo)
    timing = got.pop("timing_ms")
    assert timing["inference"] > 0 and "inference;dur=" in resp.headers["server-timing"]
    assert _same_record(got, expected)
    raw = client.post("/v1/predict", content=photo.read_bytes(), headers={"Content-Type": "image/jpeg"}).json()
    assert raw["source"] == "upload" and raw["hands"] == got["hands"]


def _same_record(a: dict, b: dict) -> bool:
    assert a.keys() == b.keys()
    for key in a:
        if key in ("hands", "annotations"):
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                assert x.keys() == y.keys()
                for k in x:
                    if isinstance(x[k], float | list):
                        np.testing.assert_allclose(np.array(x[k], float), np.array(y[k], float), atol=1e-9)
                    else:
                        assert x[k] == y[k], k
        else:
            assert a[key] == b[key], key
    return True


@pytest.mark.parametrize("name", FREIHAND)
def test_predict_matches_the_estimator_on_lossless_png(client, est, name):
    rgb = decode_like_read_image(fixture_path("mmpose", "freihand", name).read_bytes())
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    resp = client.post("/v1/predict", content=buf.tobytes(), headers={"Content-Type": "image/png"})
    assert resp.status_code == 200, resp.text
    want = frame_record(est(rgb), source="upload", width=rgb.shape[1], height=rgb.shape[0], image_id="upload")
    got = resp.json()
    got.pop("timing_ms")
    assert _same_record(got, want)


# --------------------------------------------------------------------------------------------- HTTP error paths


def test_error_paths_are_json_4xx_and_the_next_request_succeeds(client, photo):
    good = photo.read_bytes()
    big_png = png_declaring(100_000, 100_000)
    cases = [
        ("non-image upload", dict(content=b"just some text", headers={"Content-Type": "image/jpeg"}), 415),
        ("truncated JPEG", dict(content=good[: len(good) // 2], headers={"Content-Type": "image/jpeg"}), 400),
        ("100,000 x 100,000 PNG", dict(content=big_png, headers={"Content-Type": "image/png"}), 413),
        ("body over the cap", dict(content=good * 40, headers={"Content-Type": "image/jpeg"}), 413),
        ("wrong content type", dict(content=good, headers={"Content-Type": "application/json"}), 415),
        ("text content type", dict(content=b"hello", headers={"Content-Type": "text/plain"}), 415),
        ("empty body", dict(content=b"", headers={"Content-Type": "image/jpeg"}), 400),
        ("multipart without a file", dict(files={"note": (None, b"no file here")}), 400),
        ("multipart non-image", dict(files={"image": ("x.jpg", b"not an image", "image/jpeg")}), 415),
        ("multipart 100k x 100k", dict(files={"image": ("big.png", big_png, "image/png")}), 413),
    ]
    for what, kwargs, status in cases:
        resp = client.post("/v1/predict", **kwargs)
        err = assert_json_error(resp, status)
        assert err["message"], what
        assert_still_serving(client, photo)
    assert_json_error(client.get("/v1/predict"), 405)
    assert_json_error(client.get("/no/such/route"), 404)
    assert_still_serving(client, photo)


def test_body_over_the_cap_without_content_length(client, photo):
    chunks = [photo.read_bytes()] * 40  # streamed in chunks: no Content-Length, refused while it arrives
    resp = client.post("/v1/predict", content=iter(chunks), headers={"Content-Type": "image/jpeg"})
    assert "content-length" not in {k.lower() for k in resp.request.headers}
    assert_json_error(resp, 413, "payload_too_large")
    assert_still_serving(client, photo)


def test_sixteen_bit_and_tiny_images(client, photo):
    ok, buf = cv2.imencode(".png", np.full((40, 50), 1000, np.uint16))
    assert_json_error(client.post("/v1/predict", content=buf.tobytes(), headers={"Content-Type": "image/png"}), 422)
    ok, buf = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))
    resp = client.post("/v1/predict", content=buf.tobytes(), headers={"Content-Type": "image/png"})
    assert resp.status_code in (200, 422), resp.text  # no hand in one pixel, or refused: never a 500
    assert_still_serving(client, photo)


# --------------------------------------------------------------------------------------------- WebSocket


def test_stream_answers_each_frame_in_order_like_a_tracker(client, est, photo):
    """Frames in, one record each in order; the hands are what a VideoTracker of our own, fed the same frames at
    the timestamps the server reports, finds (tracking and smoothing state per connection)."""
    freihand = [fixture_path("mmpose", "freihand", name).read_bytes() for name in FREIHAND]
    frames = [photo.read_bytes()] * 3 + [data for data in freihand for _ in range(2)]
    with client.websocket_connect("/v1/stream") as ws:
        records = []
        for data in frames:
            ws.send_bytes(data)
            records.append(ws.receive_json())
    assert [r["frame"] for r in records] == list(range(len(frames)))
    stamps = [r["timestamp_s"] for r in records]
    assert stamps == sorted(stamps)
    tracker = VideoTracker(est, smoothing=True, tracking=True)
    size = None
    for data, rec in zip(frames, records):
        rgb = decode_like_read_image(data)
        if size is not None and size != rgb.shape[:2]:
            tracker.reset()  # as the server does when the frame size changes
        size = rgb.shape[:2]
        hands = tracker.update(rgb, rec["timestamp_s"])
        want = frame_record(hands, source="stream", width=rgb.shape[1], height=rgb.shape[0], image_id=rec["frame"],
                            frame_index=rec["frame"], timestamp=rec["timestamp_s"], names=False)  # fmt: skip
        rec.pop("timing_ms")
        assert _same_record(rec, want)
    assert sum(bool(r["hands"]) for r in records) >= 2


def test_stream_garbage_and_limits_then_a_good_frame(client, photo):
    good = photo.read_bytes()
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text("hello")
        err = ws.receive_json()["error"]
        assert err["status"] == 400 and err["code"] == "bad_message"
        ws.send_text('{"reset": true}')
        assert ws.receive_json() == {"reset": True}
        for data, status in [
            (b"\x00garbage\xff" * 10, 415),
            (good[: len(good) // 3], 400),
            (png_declaring(100_000, 100_000), 413),
            (good * 40, 413),
            (b"", 400),
        ]:
            ws.send_bytes(data)
            answer = ws.receive_json()
            assert answer["error"]["status"] == status, answer
        ws.send_bytes(good)
        answer = ws.receive_json()
        assert answer["frame"] == 5 and "error" not in answer and answer["width"] > 0
    assert client.get("/healthz").json()["streams"] == 0
    assert_still_serving(client, photo)


def test_a_page_from_another_origin_cannot_stream(client, photo):
    with client.websocket_connect("/v1/stream", headers={"origin": "http://evil.example"}) as ws:
        err = ws.receive_json()["error"]
        assert err["status"] == 403 and err["code"] == "forbidden_origin"
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
        assert info.value.code == 1008
    with client.websocket_connect("/v1/stream", headers={"origin": "http://testserver"}) as ws:  # its own page
        ws.send_bytes(photo.read_bytes())
        assert ws.receive_json()["frame"] == 0
    assert client.get("/healthz").json()["streams"] == 0


def test_too_many_streams_is_a_503_message(est, photo):
    with TestClient(create_app(est, ServeConfig(max_streams=1))) as c:
        with c.websocket_connect("/v1/stream") as first:
            with c.websocket_connect("/v1/stream") as second:
                err = second.receive_json()["error"]
                assert err["status"] == 503 and err["code"] == "busy"
                with pytest.raises(WebSocketDisconnect) as info:
                    second.receive_json()
                assert info.value.code == 1013
            first.send_bytes(photo.read_bytes())
            assert first.receive_json()["frame"] == 0


# --------------------------------------------------------------------------------------------- the gate


class SlowEstimator:
    """A stand-in estimator whose every call waits for ``release`` (and counts how many run at once)."""

    modalities = ("rgb",)
    models: dict = {}
    max_hands = 1
    detection_min_score = 0.0

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0

    def __call__(self, frame, **_kw):
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        try:
            assert self.release.wait(20), "never released"
            return []
        finally:
            with self.lock:
                self.running -= 1


def test_gate_bounds_concurrency_queues_refuses_and_times_out():
    async def scenario() -> None:
        gate = InferenceGate(max_concurrent=2, max_queue=2, queue_timeout_s=0.6, run_timeout_s=0.3)
        slow = SlowEstimator()
        jobs = [asyncio.ensure_future(gate.run(slow, None)) for _ in range(4)]
        await asyncio.sleep(0.1)
        assert gate.running == 2 and gate.queued == 2 and slow.running == 2
        with pytest.raises(RequestError) as info:  # two running, two waiting: the fifth is refused at once
            await gate.run(slow, None)
        assert info.value.status == 503 and info.value.retry_after == 1
        results = await asyncio.gather(*jobs, return_exceptions=True)
        # the two running calls pass the run timeout (504) but their work goes on, holding both workers, so the two
        # waiting calls never get one and run out of queue time (503): the peak stays at two
        assert [getattr(r, "status", None) for r in results] == [504, 504, 503, 503]
        assert slow.peak == 2 and gate.running == 2
        slow.release.set()
        for _ in range(100):
            if gate.running == 0:
                break
            await asyncio.sleep(0.02)
        assert gate.running == 0 and gate.queued == 0 and slow.peak == 2
        assert await gate.run(lambda: 7) == 7
        gate.close()

    asyncio.run(scenario())


def test_gate_queue_timeout_is_a_503():
    async def scenario() -> None:
        gate = InferenceGate(max_concurrent=1, max_queue=4, queue_timeout_s=0.2, run_timeout_s=30)
        slow = SlowEstimator()
        first = asyncio.ensure_future(gate.run(slow, None))
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        with pytest.raises(RequestError) as info:
            await gate.run(slow, None)
        assert info.value.status == 503 and 0.15 < time.perf_counter() - t0 < 2
        assert gate.queued == 0 and gate.running == 1
        slow.release.set()
        assert await first == []
        assert gate.running == 0
        gate.close()

    asyncio.run(scenario())


def test_api_answers_503_with_retry_after_when_full_and_504_past_the_timeout(photo):
    slow = SlowEstimator()
    cfg = ServeConfig(max_concurrent=1, max_queue=1, queue_timeout_s=1.0, inference_timeout_s=0.5)
    data = photo.read_bytes()
    with TestClient(create_app(slow, cfg)) as c:
        post = lambda: c.post("/v1/predict", content=data, headers={"Content-Type": "image/jpeg"})  # noqa: E731
        results: list = []
        threads = [threading.Thread(target=lambda: results.append(post())) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.1)
        busy = post()  # one running, one waiting: full
        err = assert_json_error(busy, 503, "busy")
        assert busy.headers["retry-after"] == "1" and "busy" in err["message"]
        for t in threads:
            t.join(10)
        # the running one passed the 0.5 s timeout (504) and its work goes on, holding the one worker, so the
        # waiting one runs out of queue time (503)
        assert sorted(r.status_code for r in results) == [503, 504]
        assert slow.peak == 1 and slow.calls == 1
        slow.release.set()
        for _ in range(100):
            if c.get("/healthz").json()["inferences_running"] == 0:
                break
            time.sleep(0.05)
        ok = post()
        assert ok.status_code == 200 and ok.json()["hands"] == []
        health = c.get("/healthz").json()
        assert health["refused_busy"] == 2 and health["timed_out"] == 1
