"""Video: a clip made from a synthetic frame (the camera pans at a constant speed over a still hand; fresh sensor
noise on every frame) with known joints. One Euro smoothing makes the trajectories smoother (less jitter: the
second difference of a constant-speed path is zero, so whatever remains is noise); tracking runs the detector once;
results are streamed frame by frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handpose.data.synthetic import World, WorldConfig
from handpose.inference import HandPoseEstimator, OneEuroConfig

FRAMES = 40
SPEED = np.array([1.2, 0.4])  # px per frame


@pytest.fixture(scope="module")
def clip(est):
    """The first test frame whose hand stays inside the panning frame and that the shipped models pose well (median
    error under 8 % of the hand's size: the tests measure tracking and smoothing, not the small pose model)."""
    world = World(WorldConfig(seed=0, split="test"))
    for i in range(300):  # bounded: with the shipped models frame 34 is the first such frame
        f = world.render(i)
        j = f.labels["joints_2d"]
        inside = np.isfinite(j).all() and j.min() > 40 and j[:, 0].max() < 320 - 40 - FRAMES * SPEED[0]
        if not (bool(f.labels["has_hand"]) and inside):
            continue
        hands = est(f.image)
        size = np.max(j.max(0) - j.min(0))
        if len(hands) == 1 and np.median(np.linalg.norm(hands[0].joints_2d - j, axis=1)) < 0.08 * size:
            break
    else:
        raise AssertionError("no frame among the first 300 that the shipped models pose within 8 % of the hand size")
    rng = np.random.default_rng(1)
    frames, truth = [], []
    for t in range(FRAMES):
        shift = t * SPEED
        m = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        img = cv2.warpAffine(f.image, m, (320, 240), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        noisy = np.clip(img.astype(np.float32) + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
        frames.append(noisy)
        truth.append(j + shift)
    return frames, np.stack(truth)


@pytest.fixture(scope="module")
def est():
    return HandPoseEstimator.from_pretrained("rgb", gesture=False, max_hands=1)


def trajectory(results: list) -> np.ndarray:
    assert all(len(r) == 1 for r in results), [len(r) for r in results]
    return np.stack([r[0].joints_2d for r in results])  # (T, 21, 2)


def jitter(traj: np.ndarray) -> float:
    """Mean length (px) of the second difference of each joint's path."""
    acc = traj[2:] - 2 * traj[1:-1] + traj[:-2]
    return float(np.linalg.norm(acc, axis=-1).mean())


def test_one_euro_makes_trajectories_smoother(est, clip):
    frames, truth = clip
    raw = trajectory(list(est.track(frames, fps=30, smoothing=False)))
    smooth = trajectory(list(est.track(frames, fps=30, smoothing=OneEuroConfig())))
    assert jitter(truth) < 1e-9
    j_raw, j_smooth = jitter(raw), jitter(smooth)
    assert j_smooth < 0.8 * j_raw, (j_raw, j_smooth)  # about 0.67 with the shipped models
    # both follow the hand: the mean error after the filter's start-up stays within a few px of the raw one
    err_raw = np.linalg.norm(raw[5:] - truth[5:], axis=-1).mean()
    err_smooth = np.linalg.norm(smooth[5:] - truth[5:], axis=-1).mean()
    assert err_smooth < err_raw + 3.0
    # and both are near the moving hand: median joint errors as a share of the hand's size, against a floor that
    # holds the first frame's joints still while the camera pans. Measured with the shipped models of commit bd82163
    # (a 104 px hand, tracking on as track() does by default): raw 0.235, smoothed 0.222, floor 0.38 (detecting on
    # every frame instead: 0.12). Re-measure when the shipped models change.
    size = np.max(truth[0].max(axis=0) - truth[0].min(axis=0))
    frozen = np.repeat(raw[:1], FRAMES, axis=0)
    floor = np.median(np.linalg.norm(frozen - truth, axis=-1)) / size
    assert floor > 0.35, floor
    assert np.median(np.linalg.norm(raw - truth, axis=-1)) / size < 0.31
    assert np.median(np.linalg.norm(smooth - truth, axis=-1)) / size < 0.31


def test_tracking_runs_the_detector_only_when_needed(est, clip):
    from handpose.inference.tracking import VideoTracker

    frames, truth = clip
    tracker = VideoTracker(est, smoothing=False, tracking=True, redetect_every=10)
    out, runs = [], []
    for i, f in enumerate(frames):
        before = tracker.detector_runs
        out.append(tracker.update(f, i / 30))
        runs.append(tracker.detector_runs - before)
    assert tracker.frames == FRAMES and tracker.detector_runs == sum(runs)
    followed = [bool(r and r[0].tracked) for r in out]
    assert not followed[0] and runs[0] == 1
    # the detector ran exactly where no hand was followed, and on every 10th frame to confirm a followed one
    for i in range(1, FRAMES):
        assert runs[i] == int(not followed[i] or i % 10 == 0), (i, followed[i], runs[i])
    assert sum(followed) >= FRAMES // 2, followed  # mostly followed, not re-detected
    # the followed hand stays on the moving hand: median joint error as a share of the 104 px hand, measured 0.24
    # with the shipped models of commit bd82163 (detecting on every frame: 0.12; the first frame's joints held still
    # while the camera pans: 0.38). Re-measure when the shipped models change.
    size = np.max(truth[0].max(axis=0) - truth[0].min(axis=0))
    assert np.median(np.linalg.norm(trajectory(out) - truth, axis=-1)) / size < 0.31
    every = VideoTracker(est, smoothing=False, tracking=False)
    for i, f in enumerate(frames[:5]):
        every.update(f, i / 30)
    assert every.detector_runs == 5


def test_results_are_streamed_one_frame_at_a_time(est, clip):
    frames, _ = clip
    pulled = []

    def source():
        for i, f in enumerate(frames[:6]):
            pulled.append(i)
            yield f

    for k, _hands in enumerate(est.track(source(), fps=30)):
        assert pulled[-1] == k  # frame k was read only when its result was asked for
