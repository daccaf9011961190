"""FLAME, the paper-faithful face model, imported by the user (licensed; never bundled).

* ``unpickler`` + ``standins``: a restricted unpickler that builds plain numpy arrays and runs nothing else.
* ``assets``: FLAME data validated and stored as safetensors; ``importer``: the import command's core.
* ``lbs``: linear blend skinning; ``model``: :class:`FlameModel` (an ``nn.Module`` face model).
* ``landmarks``: landmark embedding and soft regions; ``fit``: the landmark fit; ``codes``: encoder codes.
"""
