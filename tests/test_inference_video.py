"""Video: a clip made from a real photograph with a human-labelled hand (the OneHand10K fixture 1402.jpg; the camera
pans at a constant speed over the still hand; fresh sensor noise on every frame), so its joints are known in every
frame. One Euro smoothing makes the trajectories smoother (less jitter: the second difference of a constant-speed
path is zero, so whatever remains is noise); tracking runs the detector only when needed; results are streamed
frame by frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handpose.data.image_io import read_image
from handpose.inference import HandPoseEstimator, OneEuroConfig

from .conftest import fixture_path, labelled_hand

FRAMES = 40
SPEED = np.array([0.6, 0.3])  # px per frame


@pytest.fixture(scope="module")
def clip():
    """40 frames of the photo panned by ``SPEED`` px per frame (edges replicated), with Gaussian noise (sigma 6),
    and the labelled joints moved with it (the labelled ones: NaN elsewhere)."""
    photo = read_image(fixture_path("mmpose", "onehand10k", "1402.jpg"))
    joints, _ = labelled_hand("onehand10k", "test_onehand10k.json", "1402.jpg")
    h, w = photo.shape[:2]
    rng = np.random.default_rng(1)
    frames, truth = [], []
    for t in range(FRAMES):
        shift = t * SPEED
        m = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        img = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        noisy = np.clip(img.astype(np.float32) + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        frames.append(noisy)
        truth.append(joints + shift)
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
    ok = np.isfinite(truth[0]).all(axis=1)  # the labelled joints
    raw = trajectory(list(est.track(frames, fps=30, smoothing=False)))
    smooth = trajectory(list(est.track(frames, fps=30, smoothing=OneEuroConfig())))
    assert jitter(truth[:, ok]) < 1e-9
    j_raw, j_smooth = jitter(raw), jitter(smooth)
    assert j_smooth < 0.8 * j_raw, (j_raw, j_smooth)
    # both follow the hand: the mean error after the filter's start-up stays within a few px of the raw one
    err_raw = np.linalg.norm(raw[5:, ok] - truth[5:, ok], axis=-1).mean()
    err_smooth = np.linalg.norm(smooth[5:, ok] - truth[5:, ok], axis=-1).mean()
    assert err_smooth < err_raw + 3.0
    # the joints move with the pan: the least-squares speed of each joint's path, median over joints, is the
    # camera's (0.6, 0.3) px per frame within 0.15
    t = np.arange(FRAMES) - (FRAMES - 1) / 2
    speed = np.median(np.einsum("t,tjc->jc", t, raw - raw.mean(axis=0)) / np.sum(t**2), axis=0)
    np.testing.assert_allclose(speed, SPEED, atol=0.15)
    # and sit on the labelled hand: median joint error as a share of the hand's size, measured 0.046 raw and 0.045
    # smoothed with the shipped models of this commit (the bar, 0.12, is about twice that). Re-measure when the
    # shipped models change.
    size = np.max(np.nanmax(truth[0], axis=0) - np.nanmin(truth[0], axis=0))
    assert np.median(np.linalg.norm(raw[:, ok] - truth[:, ok], axis=-1)) / size < 0.12
    assert np.median(np.linalg.norm(smooth[:, ok] - truth[:, ok], axis=-1)) / size < 0.12


def test_tracking_runs_the_detector_only_when_needed(est, clip):
    from handpose.inference.tracking import VideoTracker

    frames, truth = clip
    ok = np.isfinite(truth[0]).all(axis=1)
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
    # mostly followed, not re-detected (measured: 39 of 40; 27 when tracked crops were planned from the joints' tight
    # extremes and shrank frame after frame until the hand was lost)
    assert sum(followed) >= FRAMES * 3 // 4, followed
    # the followed hand stays on the labelled hand: median joint error as a share of the hand's size, measured 0.046
    # with the shipped models of this commit. Re-measure when the shipped models change.
    size = np.max(np.nanmax(truth[0], axis=0) - np.nanmin(truth[0], axis=0))
    assert np.median(np.linalg.norm(trajectory(out)[:, ok] - truth[:, ok], axis=-1)) / size < 0.12
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


def test_a_followed_hand_continues_on_a_weaker_box_and_nothing_new_starts_on_one(est, clip):
    from handpose.inference.tracking import VideoTracker

    frames, truth = clip
    ok = np.isfinite(truth[0]).all(axis=1)
    size = np.max(np.nanmax(truth[0], axis=0) - np.nanmin(truth[0], axis=0))
    top = [max((d.score for d in est.detect(f, 0.01).detections), default=0.0) for f in frames[:12]]
    assert min(top) > 0.05, top  # the hand gets a box on every frame, at some score
    calibrated = est.detector.min_score
    looks = est.detector.turn_score, est.detector.tile_score
    high = max(top) + 0.01  # a threshold no box of these frames reaches
    blank = np.full_like(frames[0], 128)

    def run(keep_score: float) -> list[list]:
        # lost_threshold above 1: every followed hand is dropped, so each frame goes through the detector
        tracker = VideoTracker(est, smoothing=False, lost_threshold=1.01, keep_score=keep_score)
        out = [tracker.update(frames[0], 0.0)]  # found at the calibrated threshold
        # no box reaches the threshold from here on; the turned and tiled looks (their own, higher, scores) off
        est.detector.min_score = high
        est.detector.turn_score = est.detector.tile_score = 0.0
        try:
            out += [tracker.update(f, i / 30) for i, f in enumerate(frames[1:12], 1)]
            out.append(tracker.update(blank, 12 / 30))  # the hand leaves: the track ends
            out += [tracker.update(f, i / 30) for i, f in enumerate(frames[13:16], 13)]  # and does not restart
        finally:
            est.detector.min_score = calibrated
            est.detector.turn_score, est.detector.tile_score = looks
        return out

    with_keep = run(keep_score=0.5 * min(top))
    assert len(with_keep[0]) == 1
    ids = {r[0].track_id for r in with_keep[:12] if r}
    assert all(len(r) == 1 for r in with_keep[:12]) and len(ids) == 1  # one hand, one track, all along
    err = [np.median(np.linalg.norm(r[0].joints_2d[ok] - t[ok], axis=-1)) / size for r, t in zip(with_keep[:12], truth)]
    assert np.median(err) < 0.12, err  # on the labelled hand (the bar of the tests above)
    assert with_keep[12] == [] and all(r == [] for r in with_keep[13:])
    # without the second threshold the hand is lost on the first frame past the first
    without = run(keep_score=high)
    assert len(without[0]) == 1 and all(r == [] for r in without[1:])


def test_a_hand_lost_after_its_joints_shrank_onto_part_of_it_continues_on_a_weaker_box(est, clip):
    """Joints that collapsed onto a part of the hand (here: shrunk to a tenth around their centre, as a fast turn
    can leave them) have a box that a detection of the whole hand hardly overlaps; when the hand is then lost, a box
    under the detector's threshold still continues it (same track) if it lies in the crop the hand was followed in,
    and it is posed there again. Without that rule the hand is gone until a box reaches the full threshold."""
    from handpose.inference.tracking import VideoTracker

    frames, truth = clip
    ok = np.isfinite(truth[0]).all(axis=1)
    size = np.max(np.nanmax(truth[0], axis=0) - np.nanmin(truth[0], axis=0))
    top = [max((d.score for d in est.detect(f, 0.01).detections), default=0.0) for f in frames[:3]]
    calibrated = est.detector.min_score
    tracker = VideoTracker(est, smoothing=False, keep_score=0.5 * min(top))
    assert len(tracker.update(frames[0], 0.0)) == 1
    assert len(tracker.update(frames[1], 1 / 30)) == 1 and tracker.tracks[0].region is not None  # followed
    track = tracker.tracks[0]
    centre = np.nanmean(track.joints, axis=0)
    track.joints = centre + 0.1 * (track.joints - centre)
    det = est.detect(frames[2], 0.01).detections[0]
    from handpose.inference.stages import joints_box, overlap

    assert overlap(joints_box(track.joints), det.box) < 0.1  # the old rule (IoU with the joints' box) would fail
    tracker.lost_presence, tracker.lost_threshold = 2.0, 2.0  # the followed pose is lost on this frame
    est.detector.min_score = max(top) + 0.01  # and no box of the frame reaches the detector's threshold
    looks = est.detector.turn_score, est.detector.tile_score
    est.detector.turn_score = est.detector.tile_score = 0.0  # nor the turned or tiled looks' (their own scores)
    try:
        out = tracker.update(frames[2], 2 / 30)
    finally:
        est.detector.min_score = calibrated
        est.detector.turn_score, est.detector.tile_score = looks
    assert len(out) == 1 and out[0].track_id == track.track_id and not out[0].tracked
    err = np.median(np.linalg.norm(out[0].joints_2d[ok] - truth[2][ok], axis=-1)) / size
    assert err < 0.12, err


def test_a_followed_hand_that_drifted_is_put_back_by_the_confirming_detection(est, clip):
    """A followed hand whose joints slid half a hand to the side (as fast motion does: the crop still holds part of
    the hand, so the pose model still sees a hand) is posed again from the detection that confirms it on the next
    detector frame, keeping its track (measured: median error 0.045 of the hand's size with the re-pose, 0.218
    without)."""
    from handpose.inference.tracking import VideoTracker

    frames, truth = clip
    ok = np.isfinite(truth[0]).all(axis=1)
    size = np.max(np.nanmax(truth[0], axis=0) - np.nanmin(truth[0], axis=0))
    errors = {}
    for reseed in (True, False):
        tracker = VideoTracker(est, smoothing=False, redetect_every=2, reseed=reseed)
        tracker.update(frames[0], 0.0)
        tracker.update(frames[1], 1 / 30)  # followed, no detector
        track = tracker.tracks[0]
        track.joints = track.joints + [0.5 * size, 0.0]  # drifted
        out = tracker.update(frames[2], 2 / 30)  # a confirming frame
        assert len(out) == 1 and out[0].track_id == track.track_id
        errors[reseed] = np.median(np.linalg.norm(out[0].joints_2d[ok] - truth[2][ok], axis=-1)) / size
    assert errors[True] < 0.12 < errors[False], errors


def test_one_detection_re_poses_one_followed_hand_at_most():
    """Two followed hands that one detection confirms (here: two tracks on the same hand, one a little off) are not
    both re-posed from it: that would report one hand twice, from the same crop."""
    from handpose.inference import HandPoseEstimator
    from handpose.inference.tracking import VideoTracker

    est2 = HandPoseEstimator.from_pretrained("rgb", gesture=False, max_hands=2)
    photo = read_image(fixture_path("mmpose", "onehand10k", "1402.jpg"))
    tracker = VideoTracker(est2, smoothing=False, redetect_every=2)
    first = tracker.update(photo, 0.0)
    assert len(first) == 1
    twin = tracker._new_track(first[0], tracker.tracks[0].det_score)
    size = float(np.max(np.ptp(first[0].joints_2d, axis=0)))
    twin.joints = twin.joints + [0.15 * size, 0.0]
    tracker.tracks.append(twin)
    tracker.update(photo, 1 / 30)  # both followed
    hands = tracker.update(photo, 2 / 30)  # a confirming frame: one detection for both
    assert tracker.detector_runs == 2 and len(hands) == 2
    assert not np.allclose(hands[0].joints_2d, hands[1].joints_2d)


def test_the_detector_looks_again_at_an_empty_scene_on_every_nth_frame_only(est):
    # a frame without a hand costs the detector's turned and tiled looks (up to seven more passes); tracking asks for
    # them on the redetect_every-th frames only, so an empty scene costs about one pass per frame
    from handpose.inference.tracking import VideoTracker

    assert est.detector.turn_score > 0 and est.detector.tile_score > 0  # shipped with both looks on
    empty = np.full((480, 640, 3), 128, np.uint8)
    tracker = VideoTracker(est, redetect_every=10)
    turned, tiled = est.detector.turned_looks, est.detector.tiled_looks
    for i in range(25):
        assert tracker.update(empty, i / 30) == []
    assert tracker.detector_runs == 25  # the plain look on every frame
    assert est.detector.turned_looks - turned == 3 and est.detector.tiled_looks - tiled == 3  # frames 1, 11, 21
    # a single photo (no tracker) gets every look
    before = est.detector.turned_looks
    assert est.detect(empty).detections == [] and est.detector.turned_looks == before + 1
