"""The detector's extra looks after the presence veto, off and on, in one run: on a still image whose detected hands
the presence veto drops, every one, the turned and tiled looks run as on a frame without a box
(``HandPoseEstimator.veto_looks``), before the whole-frame look.

Sets and scoring as in ``whole_frame_look.py`` (the webcam ``holdout`` sets of ``detector_closeups.py`` scored on the
boxes of the hands the whole pipeline reports, hand-free views and large frames drawn anew, the synthetic
validation frames through the whole pipeline); the shipped pipeline otherwise. ONNX Runtime, one thread; ms per frame
is the mean over the holdout photos and their hand-free crops. The same as ``pipeline_setting.py veto_looks False
True`` (its rows and JSON: ``veto_looks = False`` is off).

    .venv/bin/python benchmarks/veto_looks.py [--json FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    from pipeline_setting import main as setting_main

    return setting_main(["veto_looks", "False", "True", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
