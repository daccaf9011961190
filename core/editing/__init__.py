"""Editing: from prepared source and reference to an edited photo (DESIGN §2, §6).

* ``editor``: the :class:`Editor` protocol, its inputs (:class:`EditInputs`: :class:`EditGeometry`,
  :class:`EditMasks`, ...) and its output (:class:`EditOutput`).
* ``pipeline``: :class:`EditPipeline`: prepare a source and a reference once, render per slider move.
* ``params``: :class:`EditParams`, what one slider move or undo step changes.
* ``geometry_link``: the pipeline's one door to :mod:`core.geometry` (fit, combine, interpolate).
* ``masks``: crop-space face, mouth and eye masks of an edit.
* ``photo_paste``: detail-preserving paste-back of the edited crop into the full photo.
* ``batch``: a folder of sources x one reference or preset.
* ``warp/``: the built-in warp editor (no trained weights), with its eye, mouth and colour helpers.
* ``gafet/``: the GaFET generator as an editor, its cached inference engine and the model registry.
"""
