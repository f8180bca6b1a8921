"""Teacher labelling: keypoints for real photographs that have none, from a teacher model run in its own
environment, recorded as the teacher's (never as ground truth).

- :mod:`.runner` starts the teacher's worker in the teacher's Python and streams frames to it;
- :mod:`.fuse` turns the teacher's answers on several views of a photo (as is, mirrored, padded, cropped around a
  human box) into one label per hand with a per-joint score (the views' agreement);
- :mod:`.labels` writes and reads the COCO-style label files and their coverage statistics.

The shipped worker (``workers/mediapipe_hands.py``) runs MediaPipe Hands; ``make teacher`` builds its environment
(``.venv-teacher``). handpose itself never imports MediaPipe.
"""

from .fuse import TeacherHand, fuse_detections
from .labels import read_teacher_labels, teacher_label_dataset
from .runner import TeacherProcess, find_teacher_python

__all__ = [
    "TeacherHand",
    "TeacherProcess",
    "find_teacher_python",
    "fuse_detections",
    "read_teacher_labels",
    "teacher_label_dataset",
]
