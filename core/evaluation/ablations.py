"""Names of ablation rows (the paper's Table 3) from a checkpoint's own config switches.

Each :class:`core.nets.config.Switches` field that is off adds its part's name to the row label
("w/o MFAT", "w/o SGMM, FD"); a checkpoint with every switch on is "Full".
"""

from __future__ import annotations

import os

from core.nets.checkpoint import read_header
from core.nets.config import GafetConfig

# Switches field -> the part's name in Table 3.
SWITCH_NAMES = {
    "use_mfat": "MFAT",
    "use_global_modulation": "SGMM",
    "multiscale_attention": "multi-scale MFAT",
    "use_feature_deformation": "FD",
    "use_component_discriminator": "Comp. D",
}


def ablation_label(config: GafetConfig) -> str:
    """"Full", or "w/o " and the parts whose switches are off, in :data:`SWITCH_NAMES` order."""
    off = [name for field, name in SWITCH_NAMES.items() if not getattr(config.switches, field)]
    return "Full" if not off else "w/o " + ", ".join(off)


def checkpoint_ablation_label(path: str | os.PathLike[str]) -> str:
    """The row label of a checkpoint, read from its header (raises CheckpointError subclasses)."""
    return ablation_label(read_header(path).config)
