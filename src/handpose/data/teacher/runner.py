"""Run a teacher model's worker in its own Python and stream frames to it.

The teacher lives in its own environment (MediaPipe pins numpy < 2; handpose never imports it). handpose starts
``PYTHON WORKER SETTINGS_JSON`` and talks to it over pipes (the protocol is in the worker's docstring,
``workers/mediapipe_hands.py``): a handshake line naming the teacher and its version, then for each frame one JSON
header line plus the raw RGB bytes, answered by one JSON line of detections. Every way this can go wrong (the
Python is missing, the worker cannot import its model, it dies, it hangs, it answers something else) is a
:class:`~handpose.errors.TeacherError` naming the teacher's Python and the last lines it wrote to stderr.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from ...errors import TeacherError

WORKERS_DIR = Path(__file__).resolve().parent / "workers"
#: teacher name -> worker script run by the teacher's Python
TEACHERS: dict[str, str] = {"mediapipe": "mediapipe_hands.py"}
#: the environment ``make teacher`` builds, looked for in the working folder and in the source checkout
TEACHER_VENV = ".venv-teacher"


def find_teacher_python(python: str | os.PathLike[str] | None = None) -> Path:
    """The teacher's Python: ``python`` if given, else ``$HANDPOSE_TEACHER_PYTHON``, else ``.venv-teacher/bin/python``
    in the working folder or in the checkout handpose runs from. :class:`TeacherError` when there is none."""
    if python is not None:
        path = Path(python)
        if not path.is_file():
            raise TeacherError("teacher Python not found", path=path)
        return path
    env = os.environ.get("HANDPOSE_TEACHER_PYTHON")
    if env:
        path = Path(env)
        if not path.is_file():
            raise TeacherError("teacher Python not found (from $HANDPOSE_TEACHER_PYTHON)", path=path)
        return path
    checkout = Path(__file__).resolve().parents[4]  # src/handpose/data/teacher -> the repository
    for base in (Path.cwd(), checkout):
        cand = base / TEACHER_VENV / "bin" / "python"
        if cand.is_file():
            return cand
    raise TeacherError(
        "no teacher environment: run 'make teacher' (builds .venv-teacher with mediapipe) or pass --teacher-python",
        path=Path.cwd() / TEACHER_VENV,
    )


class TeacherProcess:
    """One running teacher worker.

    Args:
        teacher: a name in :data:`TEACHERS` ("mediapipe").
        python: the teacher's Python (see :func:`find_teacher_python`).
        settings: passed to the worker as JSON (for MediaPipe: ``max_hands``, ``model_complexity``,
            ``min_detection_confidence``, ``pad_fraction``, ``box_scale``, ``box_side``).
        timeout_s: longest wait for the handshake and for each answer.

    Use as a context manager; :meth:`label` sends one frame and returns the worker's detections.
    """

    def __init__(
        self,
        teacher: str = "mediapipe",
        python: str | os.PathLike[str] | None = None,
        settings: dict[str, Any] | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        if teacher not in TEACHERS:
            raise TeacherError(f"unknown teacher {teacher!r}; known: {', '.join(sorted(TEACHERS))}", field="teacher")
        self.teacher = teacher
        self.python = find_teacher_python(python)
        self.worker = WORKERS_DIR / TEACHERS[teacher]
        self.settings = dict(settings or {})
        self.timeout_s = float(timeout_s)
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: IO[bytes] | None = None

    # -- lifetime ------------------------------------------------------------------------------------------------
    def __enter__(self) -> TeacherProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.setdefault("GLOG_minloglevel", "2")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            self._proc = subprocess.Popen(
                [str(self.python), str(self.worker), json.dumps(self.settings)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
            )
        except OSError as exc:
            raise TeacherError(f"cannot start the teacher ({exc.strerror or exc})", path=self.python) from None
        threading.Thread(target=self._pump, args=(self._proc.stdout,), daemon=True).start()
        hello = self._read("the handshake")
        if not hello.get("ready"):
            self._fail(f"the teacher's first line is not a handshake: {str(hello)[:80]}")
        self.info = {k: hello.get(k) for k in ("teacher", "version", "settings")}
        if not self.info.get("teacher") or not self.info.get("version"):
            self._fail("the teacher's handshake names no teacher or version")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def name(self) -> str:
        """``teacher-version``, e.g. ``mediapipe-hands-0.10.21`` (the label source is ``teacher:`` + this)."""
        return f"{self.info.get('teacher')}-{self.info.get('version')}"

    # -- talking -------------------------------------------------------------------------------------------------
    def label(
        self, rgb: np.ndarray, variants: tuple[str, ...] = ("full",), boxes: np.ndarray | None = None, ident: Any = 0
    ) -> list[dict[str, Any]]:
        """The worker's detections on one (H, W, 3) uint8 RGB frame, in each view of ``variants`` and around each
        of ``boxes`` ((K, 4) [x0, y0, x1, y1] px). Each detection: ``variant``, ``keypoints`` (21, 3) float64 (x, y
        px with pixel centres at integers, z relative), ``label`` / ``label_score`` (the teacher's handedness)."""
        if self._proc is None or self._proc.stdin is None:
            raise TeacherError("the teacher is not running", path=self.python)
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        if img.ndim != 3 or img.shape[2] != 3:
            raise TeacherError(f"frames for the teacher must be (H, W, 3) RGB, got {img.shape}")
        header = {
            "id": ident,
            "height": int(img.shape[0]),
            "width": int(img.shape[1]),
            "variants": list(variants),
            "boxes": [] if boxes is None else np.asarray(boxes, np.float64).reshape(-1, 4).tolist(),
        }
        try:
            self._proc.stdin.write(json.dumps(header).encode() + b"\n")
            self._proc.stdin.write(img.tobytes())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._fail("the teacher stopped reading (it exited)")
        answer = self._read(f"frame {ident!r}")
        if answer.get("id") != ident or not isinstance(answer.get("detections"), list):
            self._fail(f"the teacher answered {str(answer)[:80]} for frame {ident!r}")
        out = []
        for det in answer["detections"]:
            try:
                kp = np.asarray(det["keypoints"], dtype=np.float64)
                label, score = str(det.get("label", "")), float(det.get("label_score", 0.0))
                variant = str(det["variant"])
            except (KeyError, TypeError, ValueError):
                self._fail(f"malformed detection for frame {ident!r}: {str(det)[:80]}")
            if kp.shape != (21, 3) or not np.all(np.isfinite(kp)):
                self._fail(f"detection for frame {ident!r} has keypoints of shape {kp.shape} or non-finite values")
            out.append({"variant": variant, "keypoints": kp, "label": label, "label_score": score})
        return out

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self._lines.put(line)
        self._lines.put(None)

    def _read(self, what: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=self.timeout_s)
        except queue.Empty:
            self._fail(f"no answer for {what} within {self.timeout_s:.0f} s")
        if line is None:
            self._fail(f"the teacher exited before answering {what}")
        try:
            obj = json.loads(line)
        except ValueError:
            self._fail(f"the teacher wrote a line that is not JSON while answering {what}: {line[:60]!r}")
        if not isinstance(obj, dict):
            self._fail(f"the teacher's answer for {what} is not a JSON object")
        return obj

    def _fail(self, problem: str) -> None:
        tail = ""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None and proc.returncode is not None:
            problem += f" (exit code {proc.returncode})"
        if self._stderr is not None:
            self._stderr.seek(0)
            lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
            if lines:
                tail = "; its stderr ends: " + lines[-1].strip()[:200]
        self._proc = None
        raise TeacherError(problem + tail, path=self.python)
