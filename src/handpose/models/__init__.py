"""The model zoo. Importing this package imports every module in it, which registers its models.

One file per system and per baseline, each reading top to bottom: blocks, the model class, builders registered with
:func:`handpose.registry.register_model`. ``base.py`` holds the contract every model follows.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_") and _info.name != "base":
        import_module(f"{__name__}.{_info.name}")
