"""The built-in warp editor (DESIGN §6): works out of the box, with no trained weights.

* ``editor``: :class:`WarpEditor` (backward warp of the source crop inside the face mask).
* ``eyes``: eye openings that close or open without smearing.
* ``mouth_fill``: the mouth interior when the edited mouth opens or closes.
* ``colour``: colour matching in CIE Lab for content moved between photos.
"""
