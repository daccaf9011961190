"""GaFET Studio: the PySide6 application and the command-line interface.

Importing this package does not import Qt; the CLI (``gafet_studio.cli``) runs without a display.
State flows one way: widgets emit intents, the controller changes the session (through the undo
stack) and starts engine jobs, and widgets render the session's signals.

* ``app``: the QApplication, the error hook, the ``gafet-studio`` entry point.
* ``main_window``: composes the workspace, menus and status bar and wires them; first-run fetch.
* ``menus``: :class:`StudioMenus`, the actions, menu bar and tool bar. ``dialogs``: the intents
  that ask first (open a file, name a preset, export, batch, about).
* ``controller``: the user's intents as session changes and engine jobs. ``session``: the state
  and its signals (:class:`Task`, :class:`NoticeLevel`, ``SourceState``, ``ReferenceState``,
  ``Rendered``). ``undo``: the undo commands. ``settings``: typed persistent settings.
* ``engine``: the pipeline in workers, the render cache. ``jobs``: worker bodies with no Qt state
  (the shared pipelines, export, presets). ``proxy``: preview proxies of large photos.
* ``editors``: the editor selector's entries (warp and GaFET checkpoints), recent models.
* ``workers``: :class:`FunctionWorker`, :class:`LatestWins` and the thread pools.
* ``image_convert`` (numpy ⇄ QImage), ``mesh_preview`` (software 3D renders), ``recent`` (files).
* ``widgets/``: the panels and dialogs (indexed there). ``cli/``: the ``gafet`` command (no Qt).
"""
