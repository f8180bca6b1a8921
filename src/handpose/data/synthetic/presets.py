"""Difficulty presets (``easy`` / ``standard`` / ``hard``) and camera presets of the synthetic world.

A :class:`Preset` holds every random range the world draws from. ``hard`` has more occlusion and clutter, more
noise, extreme views and hands partly out of the frame; ``easy`` has clean, centred palm/back views.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ...errors import UnknownNameError
from ...geometry import Intrinsics


@dataclass(frozen=True)
class Preset:
    """Random ranges of the synthetic world (lengths in mm, angles in degrees, probabilities in [0, 1]).

    Attributes:
        name: the preset's name.
        no_hand_rate: share of frames with no hand at all.
        gesture_rate: share of hand frames posed as a named gesture (the rest: random poses within the limits).
        view_palm, view_back: share of palm-facing and back-facing views (the rest: any rotation).
        tilt_sigma: spread of the palm normal around the viewing axis in palm/back views.
        roll_upright: share of views with the fingers roughly up (roll ~ N(0, ``roll_sigma``)); the rest any roll.
        roll_sigma: spread of that roll.
        distance: (min, max) depth of the hand's centre for the default 320x240 camera, mm (the standard range
            matches ICVL's test frames: hands at 270-400 mm).
        margin: how much of the hand must stay inside the frame (1 = all of a disc of the hand's size, 0.5 = half).
        clutter: (min, max) number of clutter objects behind the hand.
        distractors: (min, max) number of 2D distractor shapes painted on RGB backgrounds.
        occluder_rate: share of hand frames with an object in front of the hand (RGB only).
        depth_noise: sensor noise sigma at 500 mm (grows linearly with depth), mm.
        edge_dropout: probability that a pixel at a depth discontinuity is missing (0).
        speckle_rate: share of random missing depth pixels.
        blur_rate: share of RGB frames blurred (Gaussian or motion blur).
        jpeg_quality: (min, max) JPEG quality of RGB frames.
        color_jitter: strength of brightness / contrast / saturation / white-balance jitter.
        image_noise: sigma of RGB sensor noise (0-255 scale).
        pose_variation: scale on the natural variation around gesture templates.
    """

    name: str
    no_hand_rate: float = 0.05
    gesture_rate: float = 0.8
    view_palm: float = 0.4
    view_back: float = 0.35
    tilt_sigma: float = 28.0
    roll_upright: float = 0.65
    roll_sigma: float = 45.0
    distance: tuple[float, float] = (240.0, 480.0)
    margin: float = 0.8
    clutter: tuple[int, int] = (1, 5)
    distractors: tuple[int, int] = (1, 6)
    occluder_rate: float = 0.25
    depth_noise: float = 1.5
    edge_dropout: float = 0.5
    speckle_rate: float = 0.003
    blur_rate: float = 0.3
    jpeg_quality: tuple[int, int] = (70, 95)
    color_jitter: float = 1.0
    image_noise: float = 3.0
    pose_variation: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "easy": Preset(
        name="easy",
        no_hand_rate=0.05,
        gesture_rate=0.9,
        view_palm=0.5,
        view_back=0.4,
        tilt_sigma=18.0,
        roll_upright=0.85,
        roll_sigma=30.0,
        distance=(280.0, 400.0),
        margin=1.0,
        clutter=(0, 2),
        distractors=(0, 2),
        occluder_rate=0.0,
        depth_noise=0.5,
        edge_dropout=0.2,
        speckle_rate=0.0005,
        blur_rate=0.1,
        jpeg_quality=(85, 95),
        color_jitter=0.5,
        image_noise=1.5,
        pose_variation=0.7,
    ),
    "standard": Preset(name="standard"),
    "hard": Preset(
        name="hard",
        no_hand_rate=0.08,
        gesture_rate=0.7,
        view_palm=0.25,
        view_back=0.25,
        tilt_sigma=40.0,
        roll_upright=0.3,
        roll_sigma=60.0,
        distance=(180.0, 700.0),
        margin=0.55,
        clutter=(3, 9),
        distractors=(3, 10),
        occluder_rate=0.5,
        depth_noise=3.0,
        edge_dropout=0.75,
        speckle_rate=0.01,
        blur_rate=0.5,
        jpeg_quality=(40, 90),
        color_jitter=1.6,
        image_noise=6.0,
        pose_variation=1.3,
    ),
}


def get_preset(name: str, **overrides: object) -> Preset:
    """Look up a preset by name, optionally with some fields replaced; unknown names raise UnknownNameError."""
    key = str(name).lower()
    if key not in PRESETS:
        raise UnknownNameError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}", field="preset")
    preset = PRESETS[key]
    return replace(preset, **overrides) if overrides else preset  # type: ignore[arg-type]


#: the reference camera the preset distances are given for: ICVL / MSRA-like time-of-flight, 320x240
REFERENCE_CAMERA = Intrinsics(241.42, 241.42, 160.0, 120.0, 320, 240)

CAMERAS: dict[str, Intrinsics] = {
    # ICVL / MSRA-like depth camera (the default for both modalities)
    "default": REFERENCE_CAMERA,
    # NYU-like (Kinect / PrimeSense): 640x480, NYU's focal length; y points down (fy > 0) like every synthetic frame
    "nyu": Intrinsics(588.03, 588.03, 320.0, 240.0, 640, 480),
}


def get_camera(name: str, size: tuple[int, int] | None = None) -> Intrinsics:
    """A camera preset, optionally resized to ``size`` = (width, height) pixels (intrinsics scaled to match)."""
    key = str(name).lower()
    if key not in CAMERAS:
        raise UnknownNameError(f"unknown camera {name!r}; known: {', '.join(CAMERAS)}", field="camera")
    cam = CAMERAS[key]
    if size is not None:
        w, h = int(size[0]), int(size[1])
        cam = cam.scaled(w / cam.width, h / cam.height)
        cam = Intrinsics(cam.fx, cam.fy, cam.cx, cam.cy, w, h)
    return cam


#: hands sit this much farther from the "nyu" camera than the frame-share rule gives, as in NYU's recordings (hands
#: at 0.7-1.0 m, about 75 px across in 640x480 frames; see the realism section of docs/benchmarks.md)
NYU_DISTANCE_FACTOR = 2.05


def distance_scale(camera: Intrinsics) -> float:
    """Factor on the preset distances so that a hand covers the same share of the frame as with the reference
    camera: (fx / width) relative to the reference camera's."""
    return (camera.fx / camera.width) / (REFERENCE_CAMERA.fx / REFERENCE_CAMERA.width)
