"""The root of the project's error types, and the command line's exit codes.

Every error the core raises for a *user-facing* reason (a bad photo, a missing asset, no face)
derives from :class:`GafetError`. Its ``str()`` is a complete sentence a UI can show as is; the
Studio and the CLI catch ``GafetError`` and show the message, and treat anything else as a bug.
A subclass sets ``exit_code`` to one of the codes below; the CLI exits with it.
"""

from __future__ import annotations

EXIT_ERROR = 1           # any other user-facing error (bad arguments, bad config, ...)
EXIT_UNREADABLE = 2      # an input file could not be read (missing, corrupt, not an image, too large)
EXIT_NO_FACE = 3         # the input was read, but no face (or not the requested face) was found
EXIT_OUTPUT_EXISTS = 4   # the output exists and --overwrite was not given, or it is an input
EXIT_ASSET = 5           # a needed asset or model is missing, corrupt, or could not be fetched


class GafetError(Exception):
    """Base class of user-facing errors. ``str(err)`` is a message a person can act on."""

    exit_code: int = EXIT_ERROR
