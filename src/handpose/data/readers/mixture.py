"""Several datasets read as one, each drawn as often as its weight says: synthetic frames (exact labels, every pose)
together with real photos (human boxes, teacher keypoints), for the real-photo recipes (``configs/*_real.yaml``).

Config (``data.format: mixture``; ``data.root`` is unused)::

    data:
      format: mixture
      options:
        size: {train: 20000}        # samples per epoch by split (default: the sources' total)
        seed: 0
        sources:
          - {format: webcam_hands, root: ../shared/realdata/webcam_hands, weight: 0.35,
             splits: {train: train, val: test}, options: {part: fit}}
          - {format: synthetic, root: runs/real/synthetic, weight: 0.4, options: {modality: [rgb]}}

Each source opens with ``open_dataset(root, format, split=splits[split] (default: the split asked for), **options)``;
a source whose ``splits`` map does not name the split asked for is left out of it (a validation split made of
real photos only, say). An epoch holds ``round(size * weight / sum of weights)`` samples of each source: all of
them as many whole times as fit, then a seeded random choice of the rest, so a small real set is repeated and a
large synthetic set subsampled. Sources keep their own label sources (``label_sources``); a sample says which
source it came from in ``meta["mixture_source"]``. 3D joints are dropped from the label table when not every
source has them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ...errors import ConfigError, DataError
from ..sample import Sample
from .base import Labels, Reader


class MixtureReader(Reader):
    """Several readers as one weighted sequence (see the module docstring).

    Args:
        root: unused (the sources name their own roots).
        split: the split asked for ("train", "val", "test", ...).
        sources: list of {format, root, weight, splits, options}.
        size: samples per epoch, one number or a {split: number} map (default: the sources' total).
        seed: seed of the subsampling.
    """

    name = "mixture"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        sources: list[dict[str, Any]] | None = None,
        size: int | dict[str, int] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(root)
        from . import open_dataset

        if not sources or not isinstance(sources, list):
            raise ConfigError("a mixture needs a list of sources", field="data.options.sources")
        self.readers: list[Any] = []
        self.source_names: list[str] = []
        weights = []
        for k, src in enumerate(sources):
            where = f"data.options.sources[{k}]"
            if not isinstance(src, dict) or "format" not in src or "root" not in src:
                raise ConfigError("each source needs a format and a root", field=where)
            unknown = set(src) - {"format", "root", "weight", "splits", "options", "name"}
            if unknown:
                raise ConfigError(f"unknown keys {sorted(unknown)}", field=where)
            splits = src.get("splits")
            if splits is not None and not isinstance(splits, dict):
                raise ConfigError("splits must map a split name to the source's own split", field=f"{where}.splits")
            if splits is not None and split not in splits:
                continue
            own = splits[split] if splits is not None else split
            weight = float(src.get("weight", 1.0))
            if not np.isfinite(weight) or weight <= 0:
                raise ConfigError(f"weight must be > 0, got {src.get('weight')}", field=f"{where}.weight")
            reader = open_dataset(src["root"], str(src["format"]), split=own, **dict(src.get("options") or {}))
            if len(reader) == 0:
                raise DataError(f"source {k} ({src['format']}) has no samples in split {own!r}", path=src["root"])
            self.readers.append(reader)
            self.source_names.append(str(src.get("name") or src["format"]))
            weights.append(weight)
        if not self.readers:
            raise DataError(f"no source of the mixture has a {split!r} split", path=root, field="split")
        w = np.asarray(weights) / np.sum(weights)
        wanted = size.get(split) if isinstance(size, dict) else size
        total = int(wanted) if wanted else sum(len(r) for r in self.readers)
        if total <= 0:
            raise ConfigError(f"size must be > 0, got {size}", field="data.options.size")
        rng = np.random.default_rng(seed)
        pairs = []
        for s, (reader, share) in enumerate(zip(self.readers, w)):
            count = max(1, int(round(total * share)))
            n = len(reader)
            whole, rest = divmod(count, n)
            idx = np.concatenate([np.tile(np.arange(n), whole), np.sort(rng.choice(n, size=rest, replace=False))])
            pairs.append(np.stack([np.full(len(idx), s), idx], axis=1))
        self._items = np.concatenate(pairs).astype(np.int64)  # (N, 2): source, index in the source
        self.label_sources = {name: getattr(r, "label_sources", {}) for name, r in zip(self.source_names, self.readers)}
        tables = [r.joints_all() for r in self.readers]
        if any(t.joints_3d is None for t in tables):
            tables = [Labels(t.joints_2d, None, t.visibility, t.joint_mask, t.bbox, t.handedness, t.gesture)
                      for t in tables]  # fmt: skip
        parts = [tables[s] for s in range(len(tables))]
        full = Labels.concat(parts)
        offsets = np.cumsum([0] + [len(t) for t in tables])
        rows = offsets[self._items[:, 0]] + self._items[:, 1]
        self.labels = Labels(
            full.joints_2d[rows],
            None if full.joints_3d is None else full.joints_3d[rows],
            full.visibility[rows],
            full.joint_mask[rows],
            full.bbox[rows],
            full.handedness[rows],
            full.gesture[rows],
        )
        self.gesture_names = ()
        self.modality = self.readers[0].modality

    def source_of(self, i: int) -> str:
        s, k = self._items[i]
        return self.readers[s].source_of(int(k))

    def _sample(self, i: int) -> Sample:
        s, k = (int(v) for v in self._items[i])
        sample = self.readers[s][k]
        sample.meta = {**sample.meta, "mixture_source": self.source_names[s], "mixture_index": i}
        return sample
