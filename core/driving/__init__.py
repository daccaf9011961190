"""Video driving: a source portrait follows a driving video's expressions (paper Fig. 10).

* ``tracking``: follow one driving face across frames (box overlap + identity, detection every K);
* ``smoothing``: One-Euro filtering of the per-frame parameters;
* ``relative``: the expression relative to the driving video's own neutral;
* ``drive``: the two passes (analyse the clip, render each frame) with typed per-frame results;
* ``encoder``: H.264 MP4 with the audio copied, written atomically (PyAV);
* ``output``: a whole drive into an MP4 or a folder of PNG stills.
"""
