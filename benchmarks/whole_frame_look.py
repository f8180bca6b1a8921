"""The whole-frame look on held-out frames, off and on, in one run: on a still image where no look of the detector
finds a hand, the pose model poses the whole frame and reports one hand when its presence output reaches
``--presence`` (:meth:`handpose.inference.HandPoseEstimator.pose_whole_frame`).

Sets (held out, never trained on): the webcam ``holdout`` sets of ``detector_closeups.py`` (the photos and as many
hand-free crops; close-ups at 50/70/90 % fill; close-ups turned 90/180/270 degrees; hand-free views; the photos
shrunk into larger frames and as many hand-free large frames), scored on the boxes of the hands the whole pipeline
reports (a hand found: a reported box at IoU >= 0.5 with the human box), with as many hand-free views and large
frames drawn anew from the same pool (another seed: the threshold's check out of sample); and the synthetic
validation frames under ``--work`` through the whole pipeline, PCK@0.2 with misses counted wrong
(``pose_crop_robustness.py``). The shipped detector and pose model, ONNX Runtime, one thread; each frame is run
once, and every threshold reads the same runs. The hands posed from a detector's box under the pose model's
``min_presence`` are dropped as shipped (``--min-presence``: another value; 0: none dropped).

    .venv/bin/python benchmarks/whole_frame_look.py [--presence 0.5 0.9 ...] [--min-presence P] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))


#: the presences tried, lowest first (also by the calibration of ``train_real_models.py``)
GRID = (0.5, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999)
#: how much more often a hand-free set may show a hand with the look on than without it
EMPTY_ROOM = 0.005


class WholeFrameRuns:
    """Every frame run once through an estimator: its hands without the whole-frame look, and where it reports none,
    the whole frame's pose (box, score, presence, joints); :meth:`reported` then gives the hands of any threshold."""

    def __init__(self, est: Any) -> None:
        self.est = est
        self.seen: dict[int, tuple[list, tuple | None]] = {}

    def _look(self, view: np.ndarray) -> tuple[list, tuple | None]:
        if id(view) not in self.seen:
            est, kept = self.est, self.est.whole_frame_presence
            est.whole_frame_presence = None
            hands = est(view)
            whole = None
            if not hands:
                est.whole_frame_presence = 0.0
                got = est.pose_whole_frame(view, None)
                whole = (got[0].bbox, got[0].score, got[0].presence, got[0].joints_2d) if got else None
            est.whole_frame_presence = kept
            self.seen[id(view)] = ([(hd.bbox, hd.score, hd.joints_2d) for hd in hands], whole)
        return self.seen[id(view)]

    def reported(self, view: np.ndarray, presence: float | None) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """(box, score, (21, 2) joints) of the hands reported with the look at ``presence`` (None: off)."""
        hands, whole = self._look(view)
        if whole is not None and presence is not None and whole[2] >= presence:
            return [(whole[0], whole[1], whole[3])]
        return hands


def holdout_row(runs: WholeFrameRuns, sets: dict[str, Any], presence: float | None) -> dict[str, float]:
    """``detector_closeups.holdout_figures`` on the reported hands' boxes, and the share of the hand-free photo
    crops with a hand (``empty_crops_with_hand``)."""
    import detector_closeups as closeups

    def boxes_of(view: np.ndarray) -> list:
        return [(b, sc) for b, sc, _ in runs.reported(view, presence)]

    row = closeups.holdout_figures(runs.est, sets, boxes_of)
    row["empty_crops_with_hand"] = float(np.mean([len(boxes_of(v)) > 0 for v in sets["frames"][len(sets["photos"]) :]]))
    return row


def add_held_out_args(ap: argparse.ArgumentParser) -> None:
    """The arguments :func:`held_out_sets` reads: ``--work`` (where the synthetic worlds are) and
    ``--synthetic-count``."""
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "real", help="where the synthetic worlds are")
    ap.add_argument("--synthetic-count", type=int, default=300, help="validation frames per synthetic world")


def held_out_sets(work: Path, synthetic_count: int) -> dict[str, Any]:
    """What the pipeline benchmarks read: the webcam holdout sets (``holdout``, :func:`detector_closeups.holdout_sets`,
    one hand-free view per hand), the synthetic validation frames under ``work`` (``synthetic``, name -> frames),
    and as many hand-free views and large frames drawn anew from the holdout's pool with another seed
    (``fresh_views``, ``fresh_large``)."""
    import detector_closeups as closeups
    import pose_crop_robustness as crops

    from handpose.data.readers import open_dataset
    from handpose.data.scenes import BackgroundPool
    from handpose.engine.data import photo_avoid_boxes

    root = Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")) / "webcam_hands"
    hold = open_dataset(root, "webcam_hands", split="holdout")
    sets = closeups.holdout_sets(hold, views=sum(len(b) for _, b in hold.image_boxes()))
    synthetic = {name: crops.frames_of(items) for name, items in crops.held_out_sets(work, synthetic_count).items()
                 if not name.startswith("webcam")}  # fmt: skip
    rng = np.random.default_rng(7)
    pool = BackgroundPool(photo_avoid_boxes(hold), texture_share=0.0, seed=7)
    return {"holdout": sets, "synthetic": synthetic,
            "fresh_views": [pool.draw(rng, closeups.VIEW, closeups.VIEW) for _ in sets["empty"]],
            "fresh_large": [pool.draw(rng, *closeups.FAR_FRAME) for _ in sets["large_empty"]]}  # fmt: skip


def pipeline_row(runs: WholeFrameRuns, held: dict[str, Any], presence: float | None) -> dict[str, float]:
    """:func:`holdout_row`, the share of the fresh hand-free views and large frames with a hand, and the synthetic
    pipeline PCK@0.2 (misses wrong) of each world, for the hands reported with the whole-frame look at ``presence``."""
    import pose_crop_robustness as crops

    row = holdout_row(runs, held["holdout"], presence)
    for key, views in (("fresh_views_with_hand", held["fresh_views"]), ("fresh_large_with_hand", held["fresh_large"])):
        row[key] = float(np.mean([len(runs.reported(v, presence)) > 0 for v in views]))
    for name, frames in held["synthetic"].items():
        found = [[j for _, _, j in runs.reported(img, presence)] for img, _ in frames]
        row[f"{name} pipeline pck@0.2"] = crops.matched_pck(found, frames)
    return row


def pipeline_line(row: dict[str, float]) -> str:
    """:func:`pipeline_row`'s figures in one line (with its ``ms_per_holdout_frame`` where it has one)."""
    line = (
        f"photos F1 {row['holdout_f1']:.3f}; close-ups found (all) {row['closeup_all']:.3f}; turned close-ups found "
        f"{row['turned']:.3f}; small hands found {row['small']:.3f}; fists found {row['fists_photos']:.3f}; with a "
        f"hand: hand-free photo crops {row['empty_crops_with_hand']:.3f}, views {row['empty_with_box']:.3f}, large "
        f"frames {row['large_empty_with_box']:.3f}, drawn anew {row['fresh_views_with_hand']:.3f} / "
        f"{row['fresh_large_with_hand']:.3f}; "
        + "; ".join(f"{k} {v:.3f}" for k, v in row.items() if k.endswith("pipeline pck@0.2"))
    )
    return line + (f"; {row['ms_per_holdout_frame']:.2f} ms per holdout frame" if "ms_per_holdout_frame" in row else "")


def timed_pipeline_row(runs: WholeFrameRuns, held: dict[str, Any], presence: float | None) -> dict[str, float]:
    """:func:`pipeline_row` with ``ms_per_holdout_frame``: the mean time of the first run of each holdout frame (the
    photos and their hand-free crops; time it on a fresh ``runs``)."""
    import time

    t0 = time.perf_counter()
    for f in held["holdout"]["frames"]:
        runs.reported(f, presence)
    ms = 1e3 * (time.perf_counter() - t0) / len(held["holdout"]["frames"])
    row = pipeline_row(runs, held, presence)
    row["ms_per_holdout_frame"] = ms
    return row


def look_setting_line(label: str, detector_row: dict[str, float], row: dict[str, float], counter: str) -> str:
    """:func:`look_setting_rows`' figures of one setting in one line: the detector alone, the pipeline and how many
    looks ``counter`` counted."""
    return (
        f"{label}: detector alone photos F1 {detector_row['holdout_f1']:.3f}, close-ups "
        f"{detector_row['closeup_all']:.3f}, small hands {detector_row['small']:.3f}, hand-free views / large frames "
        f"with a box {detector_row['empty_with_box']:.3f} / {detector_row['large_empty_with_box']:.3f}; pipeline: "
        + pipeline_line(row)
        + f"; {row[counter]} {counter.replace('_', ' ')}"
    )


def look_setting_rows(est: Any, held: dict[str, Any], presence: float | None, counter: str) -> tuple[dict, dict]:
    """One setting of the detector's looks as ``est`` is set: the detector alone on the holdout sets
    (``detector_closeups.holdout_figures``) and the whole pipeline (:func:`timed_pipeline_row` on fresh runs), the
    latter with ``counter`` (a :class:`DetectorStage` look counter, e.g. ``"zoomed_in_looks"``) counting the looks
    that run took -> (detector row, pipeline row)."""
    import detector_closeups as closeups

    before = getattr(est.detector, counter)
    detector_row = closeups.holdout_figures(est, held["holdout"])
    row = timed_pipeline_row(WholeFrameRuns(est), held, presence)
    row[counter] = getattr(est.detector, counter) - before
    return detector_row, row


def calibrate_whole_frame(
    est: Any, sets: dict[str, Any], grid: tuple[float, ...] = GRID, runs: WholeFrameRuns | None = None
) -> dict[str, Any]:
    """The whole-frame look's presence threshold on :func:`detector_closeups.holdout_sets`: the lowest of ``grid`` at
    which the hand-free photo crops, hand-free views and large hand-free frames each show a hand at most
    :data:`EMPTY_ROOM` more often than without the look (None: no such threshold, the look off) ->
    ``whole_frame_presence`` and each setting's figures (``whole_frame``); ``runs``: the runs to read (and add to)."""
    runs = runs if runs is not None else WholeFrameRuns(est)
    rows = {presence: holdout_row(runs, sets, presence) for presence in (None, *grid)}
    return {"whole_frame_presence": lowest_clean(rows), "whole_frame": [{"presence": p, **r} for p, r in rows.items()]}


def lowest_clean(rows: dict[float | None, dict[str, float]], room: float = EMPTY_ROOM) -> float | None:
    """The lowest presence of ``rows`` (presence -> :func:`holdout_row`'s figures; None: the setting off) at which the
    hand-free photo crops, hand-free views and large hand-free frames each show a hand at most ``room`` more often
    than with it off (None: no such presence)."""
    base = rows[None]
    keys = ("empty_crops_with_hand", "empty_with_box", "large_empty_with_box")
    for presence in sorted(p for p in rows if p is not None):
        if all(rows[presence][k] <= base[k] + room for k in keys):
            return presence
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presence", type=float, nargs="+", default=list(GRID),
                    help="the presences the whole frame needs (the look on), lowest first")  # fmt: skip
    add_held_out_args(ap)
    ap.add_argument(
        "--min-presence",
        type=float,
        default=None,
        help="drop hands posed from a detector box under this presence (default: shipped; 0: off)",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import detector_closeups as closeups

    from handpose.inference import HandPoseEstimator

    held = held_out_sets(args.work, args.synthetic_count)  # the fresh views check the threshold out of sample
    sets = held["holdout"]
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=2, threads=1)
    if args.min_presence is not None:
        est.min_presence = args.min_presence or None  # 0: off
    runs = WholeFrameRuns(est)
    chosen = calibrate_whole_frame(est, sets, tuple(args.presence), runs)["whole_frame_presence"]
    report: dict[str, Any] = {"calibrated_presence": chosen, "settings": {}}
    for presence in [None, *args.presence]:
        label = "off" if presence is None else f"on, presence >= {presence:g}"
        row = pipeline_row(runs, held, presence)
        report["settings"][label] = row
        print(
            f"whole-frame look {label}: photos F1 {row['holdout_f1']:.3f}; close-ups found "
            + ", ".join(f"{s:.0%} {row[f'closeup_{s:g}']:.3f}" for s in closeups.SHARES)
            + f" (all {row['closeup_all']:.3f}); turned close-ups found {row['turned']:.3f}; small hands found "
            f"{row['small']:.3f}; with a hand: hand-free photo crops {row['empty_crops_with_hand']:.3f}, hand-free "
            f"views {row['empty_with_box']:.3f}, large hand-free frames {row['large_empty_with_box']:.3f}, drawn anew "
            f"{row['fresh_views_with_hand']:.3f} / {row['fresh_large_with_hand']:.3f}; "
            + "; ".join(f"{k} {v:.3f}" for k, v in row.items() if k.endswith("pipeline pck@0.2")),
            flush=True,
        )
    print(f"calibrated (the lowest presence whose hand-free sets gain at most {EMPTY_ROOM:g}): {chosen}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
