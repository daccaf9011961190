"""The built-in warp editor (DESIGN §6): works out of the box, with no trained weights.

* ``editor``: :class:`WarpEditor` (backward warp of the source crop inside the face mask).
* ``eyes``: eye openings that close or open without smearing.
* ``lips``: lips that close over an open mouth with their own pixels (corners included), and
  that sample only the source's real lips (not the teeth the mesh's lip contour may cover).
* ``mouth_fill``: the mouth interior when the edited mouth opens or closes (orchestrates):
  ``mouth_geometry`` (mouth frames, the rigid-teeth map through the lip contours),
  ``cavity`` (a mouth cavity from the source's own colours), ``blend`` (multi-band blending).
* ``colour``: colour matching and light transfer in CIE Lab for content moved between photos.
"""
