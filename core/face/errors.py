"""User-facing errors of the face pipeline."""

from __future__ import annotations

from core.errors import EXIT_NO_FACE, GafetError


class FaceError(GafetError):
    """Base class of face-pipeline problems a user can act on."""


class NoFaceError(FaceError):
    """The photo was read, but no face was found in it."""

    exit_code = EXIT_NO_FACE


class FaceIndexError(NoFaceError):
    """Faces were found, but not the one asked for (index out of range)."""
