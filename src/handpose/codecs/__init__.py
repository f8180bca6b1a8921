"""Target codecs: each pairs ``encode`` (joints -> training targets) with ``decode`` (outputs -> joints).
Import from the submodules; ``base.py`` holds the contract."""
