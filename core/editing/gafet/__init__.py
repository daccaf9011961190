"""The GaFET generator as an editor (paper §3.2-3.3, DESIGN §6).

* ``engine``: :class:`GafetEngine`, cached inference (source and reference encodings reused per slider move).
* ``editor``: :class:`GafetEditor`, the engine behind the :class:`~core.editing.editor.Editor` protocol.
* ``registry``: the user's checkpoints: listed from headers, loaded once, kept in a small LRU.
"""
