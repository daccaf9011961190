"""3D face geometry (paper §3.1, DESIGN §4): two face-model backends behind one interface.

Shared interface and maths:

* ``face_model``: the :class:`FaceModel` interface, :class:`FaceParams`, :class:`Pose`.
* ``combine``: expression transfer in parameter space (3D geometry decoupling).
* ``interpolate``: progressive, per-region control (paper Fig. 9).
* ``rotations``: rotations and similarity alignment; ``box_qp``: the box-constrained QP solver.
* ``regions``: soft geodesic face regions on a mesh.
* ``presets``: expression presets (validated JSON AU vectors) and their names.
* ``summary``: fitted parameters as a JSON-able summary; ``obj_io``: Wavefront OBJ export.

Backends:

* ``au/``: the built-in MediaPipe-topology action-unit model and its fits (exact and differentiable).
* ``flame/``: FLAME, imported by the user: restricted unpickler, validated assets, LBS model, fit.
"""
