"""The root of the project's error types.

Every error the core raises for a *user-facing* reason (a bad photo, a missing asset, no face)
derives from :class:`GafetError`. Its ``str()`` is a complete sentence a UI can show as is; the
Studio and the CLI catch ``GafetError`` and show the message, and treat anything else as a bug.
"""

from __future__ import annotations


class GafetError(Exception):
    """Base class of user-facing errors. ``str(err)`` is a message a person can act on."""
