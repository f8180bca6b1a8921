"""The MediaPipe Hands teacher worker: run by the teacher's own Python (``.venv-teacher``, made by ``make teacher``),
never imported by handpose (MediaPipe pins numpy < 2 and is not a handpose dependency).

Protocol (see :mod:`handpose.data.teacher.runner`): argv[1] is a JSON object of settings. The worker prints one
JSON line ``{"ready": true, "teacher": ..., "version": ..., "settings": ...}``, then for every request it reads
from stdin one JSON header line ``{"id": ..., "height": H, "width": W, "variants": [...], "boxes": [[x0, y0, x1,
y1], ...]}`` followed by exactly ``H * W * 3`` bytes of RGB pixels, and answers one JSON line ``{"id": ...,
"detections": [...]}``. Each detection is ``{"variant": "full" | "flip" | "pad" | "box:K", "keypoints": 21 x
[x, y, z], "world": 21 x [x, y, z] metres, "label": "Left" | "Right", "label_score": s}`` with x, y in the
original image's pixels (handpose's convention: pixel centres at integers, so 0 is the centre of the first pixel)
and z MediaPipe's relative depth (in the same units as x). ``label`` is MediaPipe's own handedness label, which
assumes a mirrored (selfie) image. The worker ends when stdin closes.
"""

import json
import sys

import cv2
import mediapipe as mp
import numpy as np


def read_exact(stream, n):
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise EOFError(f"stream ended after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def run(hands, rgb):
    """MediaPipe on one (h, w, 3) uint8 RGB image -> [(keypoints (21, 3) px, pixel centres at integers, world,
    label, score)]."""
    h, w = rgb.shape[:2]
    res = hands.process(np.ascontiguousarray(rgb))
    out = []
    for k, lm in enumerate(res.multi_hand_landmarks or []):
        pts = np.array([[p.x * w - 0.5, p.y * h - 0.5, p.z * w] for p in lm.landmark], dtype=np.float64)
        cls = res.multi_handedness[k].classification[0]
        world = []
        if res.multi_hand_world_landmarks and k < len(res.multi_hand_world_landmarks):
            world = [[p.x, p.y, p.z] for p in res.multi_hand_world_landmarks[k].landmark]
        out.append((pts, world, cls.label, float(cls.score)))
    return out


def answer(found, variant, to_image):
    """The worker's detections of one view, mapped back to the original image by ``to_image(points)``."""
    out = []
    for pts, world, label, score in found:
        out.append(
            {
                "variant": variant,
                "keypoints": np.round(to_image(pts), 3).tolist(),
                "world": np.round(np.asarray(world), 5).tolist(),
                "label": label,
                "label_score": round(score, 4),
            }
        )
    return out


def views(hands, rgb, variants, boxes, settings):
    """Every requested view of one image -> detections in the image's pixels."""
    h, w = rgb.shape[:2]
    dets = []
    for variant in variants:
        if variant == "full":
            dets += answer(run(hands, rgb), "full", lambda p: p)
        elif variant == "flip":
            # a mirrored image: MediaPipe's label refers to the mirrored hand; swap it back
            found = [(p, wd, "Right" if lab == "Left" else "Left", s) for p, wd, lab, s in run(hands, rgb[:, ::-1])]
            dets += answer(found, "flip", lambda p: np.column_stack([w - 1 - p[:, 0], p[:, 1:]]))
        elif variant == "pad":
            pad = int(round(float(settings.get("pad_fraction", 0.25)) * max(h, w)))
            border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).reshape(-1, 3)
            colour = [int(c) for c in np.median(border, axis=0)]
            padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour)
            dets += answer(run(hands, padded), "pad", lambda p, pad=pad: p - np.array([pad, pad, 0.0]))
    side = int(settings.get("box_side", 256))
    for k, box in enumerate(boxes or []):
        x0, y0, x1, y1 = (float(v) for v in box)
        scale = side / (float(settings.get("box_scale", 2.0)) * max(x1 - x0, y1 - y0, 1.0))  # crop px per image px
        tx, ty = side / 2 - scale * (x0 + x1) / 2, side / 2 - scale * (y0 + y1) / 2
        m = np.array([[scale, 0, tx], [0, scale, ty]], np.float64)
        crop = cv2.warpAffine(rgb, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        back = np.array([tx, ty, 0.0])
        dets += answer(run(hands, crop), f"box:{k}", lambda p, back=back, scale=scale: (p - back) / scale)
    return dets


def main():
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    hands = mp.solutions.hands.Hands(
        static_image_mode=True,
        max_num_hands=int(settings.get("max_hands", 2)),
        model_complexity=int(settings.get("model_complexity", 1)),
        min_detection_confidence=float(settings.get("min_detection_confidence", 0.5)),
    )
    hello = {"ready": True, "teacher": "mediapipe-hands", "version": mp.__version__, "settings": settings}
    sys.stdout.write(json.dumps(hello) + "\n")
    sys.stdout.flush()
    stdin = sys.stdin.buffer
    while True:
        header = stdin.readline()
        if not header:
            break
        req = json.loads(header)
        h, w = int(req["height"]), int(req["width"])
        rgb = np.frombuffer(read_exact(stdin, h * w * 3), np.uint8).reshape(h, w, 3)
        dets = views(hands, rgb, req.get("variants", ["full"]), req.get("boxes"), settings)
        sys.stdout.write(json.dumps({"id": req.get("id"), "detections": dets}) + "\n")
        sys.stdout.flush()
    hands.close()


if __name__ == "__main__":
    main()
