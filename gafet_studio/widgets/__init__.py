"""The Studio's widgets: they render session state and emit the user's intent; none holds state.

* ``workspace``: the central widget laying out the panels below.
* ``panels`` (source and reference, on ``drop_panel``, ``image_view`` and ``face_picker``),
  ``result_view`` (before/after), ``preview3d`` (meshes), ``banner`` (notices).
* ``editor_selector``, ``sliders`` (intensity and regions), ``au_panel`` (action units).
* ``status_bar``: busy task, timings, active editor.
* Dialogs: ``export_dialog``, ``batch_dialog``, ``fetch_dialog`` (first run).
"""
