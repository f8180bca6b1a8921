"""Shared network layers. Import from the submodules (``handpose.layers.conv``, ``handpose.layers.ghost``, ...);
this package re-exports nothing, so each layer has one home."""
