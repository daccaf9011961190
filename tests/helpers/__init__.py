"""Helpers shared by test modules (tests import from here or from conftest, never from each other).

* ``nets``: tiny GaFET inputs and fake landmarks; ``au_synthetic``: a synthetic AU face;
  ``flame_synthetic``: a synthetic FLAME file with FLAME's exact keys, shapes and types.
"""
