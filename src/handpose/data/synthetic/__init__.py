"""The synthetic hand world: the embedded default dataset of every system, in RGB and depth.

A kinematic hand with anthropometric proportions and joint limits (:mod:`.kinematics`), a gesture vocabulary and
pose sampler (:mod:`.gestures`), a surface of round cones ray-cast into a z-buffer (:mod:`.surface`,
:mod:`.raster`), scenes rendered as sensor-like depth and shaded RGB frames with exact labels (:mod:`.world`),
stored as sharded ``.npz`` files (:mod:`.shards`, :mod:`.generate`) and read back as
:class:`handpose.data.sample.Sample` records (:class:`SyntheticDataset`). See docs/synthetic.md.

Typical use::

    from handpose.data.synthetic import generate, SyntheticDataset, GESTURES
    generate("data/synth", count=2000, split="train", workers=2)
    ds = SyntheticDataset("data/synth", split="train", modality=("rgb",))
    sample = ds[0]
    keypoints, labels = ds.joints_2d_all(), ds.gestures()
"""

from .dataset import SyntheticDataset
from .generate import DEFAULT_SHARD_SIZE, generate, make_config, parse_modality
from .gestures import GESTURE_IDS, GESTURES, NO_GESTURE
from .presets import CAMERAS, PRESETS, Preset, get_camera, get_preset
from .world import SPLITS, Frame, World, WorldConfig

__all__ = [
    "CAMERAS",
    "DEFAULT_SHARD_SIZE",
    "Frame",
    "GESTURES",
    "GESTURE_IDS",
    "NO_GESTURE",
    "PRESETS",
    "Preset",
    "SPLITS",
    "SyntheticDataset",
    "World",
    "WorldConfig",
    "generate",
    "get_camera",
    "get_preset",
    "make_config",
    "parse_modality",
]
