"""A restricted unpickler for FLAME model files: builds plain numpy arrays, runs nothing else.

FLAME 2020 (``generic_model.pkl``, ``male_model.pkl``, ``female_model.pkl``) and FLAME 2023
(``flame2023.pkl``, ``flame2023_no_jaw.pkl``) are Python-2 era pickles (load them with
``encoding='latin1'``). They hold numpy arrays, a ``scipy.sparse.csc_matrix`` (``J_regressor``)
and chumpy ``Ch`` objects (``shapedirs``, sometimes others). DECA's ``landmark_embedding.npy``
is an object ``.npy`` whose pickle holds numpy arrays and torch tensors.

A pickle is a small program; ``pickle.load`` runs any callable it names. This module never
imports chumpy or scipy and never resolves a global by import. :class:`RestrictedUnpickler`
maps each allowed ``(module, name)`` to an object of *this* module (a safe function or a
stand-in class that only records its state), and refuses everything else with
:class:`UnsafePickleError` naming the global. On top of that gate it guards the opcodes that call
or mutate: REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ may only call those safe objects, BUILD may
only set the state of an array, dtype or stand-in, and EXT and persistent ids are refused.

:func:`load_restricted` then turns stand-ins into numpy arrays with
:func:`core.geometry.flame.standins.to_plain` (chumpy ``Ch`` → its ``x``, a few chumpy
operations evaluated with numpy, sparse matrices → dense arrays), leaving dicts, lists, tuples,
numbers, strings and numpy arrays.
"""

from __future__ import annotations

import io
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from core.errors import GafetError
from core.geometry.flame.standins import (
    CHUMPY_MODULES,
    IDENT,
    SPARSE_CLASSES,
    SPARSE_MODULES,
    ChumpyStandIn,
    FlamePickleError,
    SparseStandIn,
    StandIn,
    standin_class,
    to_plain,
)

__all__ = [
    "FlamePickleError",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "load_restricted",
    "load_restricted_npy",
    "to_plain",
]


class UnsafePickleError(GafetError):
    """A pickle asked for something outside the allow-list (a global, a call, an opcode)."""


# ---------------------------------------------------------------------------------------------
# Safe replacements for the callables a numpy / torch / Python-2 pickle names.


def _np_reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct``: an empty ndarray, filled later by BUILD."""
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"The pickle reconstructs an array of class {subtype!r}; only "
                                f"numpy.ndarray is allowed.")
    return np.ndarray((0,), dtype=np.uint8)


def _np_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str | bytes):
        raise UnsafePickleError(f"The pickle builds a numpy dtype from {type(spec).__name__}; only "
                                f"type codes such as 'f8' are allowed.")
    return np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec, align=bool(align),
                    copy=bool(copy))


def _to_bytes(data: Any) -> bytes:
    if isinstance(data, str):  # Python-2 str read with encoding='latin1'
        return data.encode("latin1")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    raise UnsafePickleError(f"Expected raw bytes in the pickle, got {type(data).__name__}.")


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar``: a numeric numpy scalar from its raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("The pickle builds a numpy scalar of an object dtype.")
    return np.frombuffer(_to_bytes(data), dtype=dtype, count=1)[0]


def _np_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """``numpy.core.numeric._frombuffer`` (protocol-5 arrays)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("The pickle builds an object array from a raw buffer.")
    arr = np.frombuffer(_to_bytes(buf), dtype=dtype)
    return arr.reshape(tuple(shape), order="F" if order == "F" else "C").copy()


def _codecs_encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    """``_codecs.encode``: how Python 3 writes ``bytes`` at protocol 2; only latin-1 text."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"The pickle calls _codecs.encode with encoding {encoding!r}; "
                                f"only 'latin1' is allowed.")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """``builtins.bytes`` with no argument: how Python 3 writes ``b''`` at protocol 2."""
    if args:
        raise UnsafePickleError("The pickle calls bytes() with arguments; only bytes() is allowed.")
    return b""


def _py_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copy_reg._reconstructor`` (protocol 0/1): only ``object.__new__`` of a stand-in."""
    if not (isinstance(cls, type) and issubclass(cls, StandIn)) or base is not object or state is not None:
        raise UnsafePickleError(f"The pickle calls copy_reg._reconstructor on {cls!r}; only "
                                f"chumpy / scipy stand-ins are allowed.")
    return cls.__new__(cls)


def _torch_load_from_bytes(data: Any) -> Any:
    """``torch.storage._load_from_bytes``, but with torch's own ``weights_only`` unpickler."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(io.BytesIO(_to_bytes(data)), weights_only=True, map_location="cpu")


def _torch_rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2``: a torch tensor rebuilt as a numpy array."""
    import torch

    if not isinstance(storage, torch.TypedStorage | torch.UntypedStorage):
        raise UnsafePickleError(f"The pickle rebuilds a tensor from {type(storage).__name__}; "
                                f"only a torch storage is allowed.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tensor = torch._utils._rebuild_tensor_v2(storage, int(offset), tuple(size), tuple(stride),
                                                 False, OrderedDict())
    return tensor.detach().cpu().numpy().copy()


_BUILTINS = ("builtins", "__builtin__")

# (module, name) -> safe object. Module aliases cover Python-2 names and numpy 1.x / 2.x paths.
_ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _np_reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _np_scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _np_frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _np_dtype,
    **{(m, "set"): set for m in _BUILTINS},
    **{(m, "frozenset"): frozenset for m in _BUILTINS},
    **{(m, "object"): object for m in _BUILTINS},
    **{(m, "bytes"): _empty_bytes for m in _BUILTINS},
    ("_codecs", "encode"): _codecs_encode,
    ("copy_reg", "_reconstructor"): _py_reconstructor,
    ("copyreg", "_reconstructor"): _py_reconstructor,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _torch_rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _torch_load_from_bytes,
}

# What REDUCE / INST / OBJ may call, and what NEWOBJ may instantiate.
_CALLABLE_FUNCS = frozenset({_np_reconstruct, _np_scalar, _np_frombuffer, _np_dtype, _codecs_encode,
                             _empty_bytes, _py_reconstructor, _torch_rebuild_tensor, _torch_load_from_bytes})
_CALLABLE_TYPES = frozenset({set, frozenset, OrderedDict})


def _may_call(obj: Any) -> bool:
    if isinstance(obj, type):
        return obj in _CALLABLE_TYPES or issubclass(obj, StandIn)
    return any(obj is f for f in _CALLABLE_FUNCS)


def _may_build(obj: Any) -> bool:
    return isinstance(obj, np.ndarray | np.dtype | StandIn)


# ---------------------------------------------------------------------------------------------
# The unpickler


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler for FLAME files: allow-listed globals only, guarded REDUCE / NEWOBJ / BUILD.

    Built on the stdlib's pure-Python unpickler so that every opcode that calls something can be
    checked (the C unpickler only lets a subclass override ``find_class``). ``source`` names the
    file in error messages.
    """

    def __init__(self, file: BinaryIO, *, source: str = "the file") -> None:
        super().__init__(file, encoding="latin1", fix_imports=False)
        self.source = source

    # -- the global gate --------------------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module in CHUMPY_MODULES and IDENT.match(name):
            return standin_class(module, name, ChumpyStandIn)
        if module in SPARSE_MODULES and name in SPARSE_CLASSES:
            return standin_class(module, name, SparseStandIn, fmt=SPARSE_CLASSES[name])
        raise UnsafePickleError(
            f"Refused to load {self.source}: it asks for the Python global '{module}.{name}', which "
            f"is not on the allow-list for FLAME files (numpy arrays, scipy sparse matrices, chumpy "
            f"arrays). The file is damaged or not a FLAME model; it may be malicious. Use the "
            f"original file from flame.is.tue.mpg.de.")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"Refused to load {self.source}: it uses persistent ids, which FLAME "
                                f"files never do.")

    # -- opcode guards ----------------------------------------------------------------------
    def _refuse_call(self, what: Any, opcode: str) -> None:
        raise UnsafePickleError(f"Refused to load {self.source}: its {opcode} instruction calls "
                                f"{_describe(what)}, which is not on the allow-list.")

    def _load_reduce(self) -> None:
        func = self.stack[-2]
        if not _may_call(func):
            self._refuse_call(func, "REDUCE")
        super().load_reduce()

    def _load_newobj(self) -> None:
        cls = self.stack[-2]
        if not (isinstance(cls, type) and _may_call(cls)):
            self._refuse_call(cls, "NEWOBJ")
        super().load_newobj()

    def _load_newobj_ex(self) -> None:
        cls = self.stack[-3]
        if not (isinstance(cls, type) and _may_call(cls)):
            self._refuse_call(cls, "NEWOBJ_EX")
        super().load_newobj_ex()

    def _instantiate(self, klass: Any, args: Any) -> None:  # INST and OBJ
        if not _may_call(klass):
            self._refuse_call(klass, "INST/OBJ")
        super()._instantiate(klass, args)

    def _load_build(self) -> None:
        inst = self.stack[-2]
        if not _may_build(inst):
            raise UnsafePickleError(f"Refused to load {self.source}: its BUILD instruction sets the "
                                    f"state of {_describe(inst)}, which is not allowed.")
        super().load_build()

    def _refuse_ext(self) -> None:
        raise UnsafePickleError(f"Refused to load {self.source}: it uses the copyreg extension "
                                f"registry (EXT opcodes), which FLAME files never do.")

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex
    dispatch[pickle.BUILD[0]] = _load_build
    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse_ext
    del _op


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class '{obj.__module__}.{obj.__qualname__}'"
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"'{getattr(obj, '__module__', '?')}.{obj.__qualname__}'"
    return f"an object of type {type(obj).__name__}"


def _unpickle(fh: BinaryIO, source: str) -> Any:
    try:
        return RestrictedUnpickler(fh, source=source).load()
    except (UnsafePickleError, FlamePickleError):
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, KeyError,
            IndexError, UnicodeError, MemoryError, RuntimeError) as exc:
        raise FlamePickleError(f"{source} is not a readable FLAME pickle ({type(exc).__name__}: "
                               f"{exc}). Re-download it from flame.is.tue.mpg.de.") from exc


def load_restricted(path: Path | str | bytes) -> Any:
    """Unpickle a FLAME-era pickle (file path or raw bytes) into plain Python + numpy.

    Returns what :func:`to_plain` makes of the unpickled object: typically a ``dict`` of
    numpy arrays. Raises :class:`UnsafePickleError` for anything outside the allow-list and
    :class:`FlamePickleError` for a damaged file.
    """
    if isinstance(path, bytes):
        return to_plain(_unpickle(io.BytesIO(path), "the pickle"))
    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise FlamePickleError(f"Cannot open {path}: {exc.strerror or exc}.") from exc
    with fh:
        return to_plain(_unpickle(fh, path.name))


def load_restricted_npy(path: Path | str) -> Any:
    """Load a ``.npy`` file; object arrays (a pickled dict, as DECA's landmark_embedding.npy)
    go through :class:`RestrictedUnpickler` instead of numpy's unrestricted ``allow_pickle``.

    A 0-d object array is unwrapped to its item. Returns plain Python + numpy.
    """
    from numpy.lib import format as npformat

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = npformat.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npformat.read_array_header_2_0(fh)
            else:
                raise FlamePickleError(f"{path.name}: unsupported .npy version {version}.")
            if not dtype.hasobject:
                fh.seek(0)
                return np.load(fh, allow_pickle=False)
            arr = _unpickle(fh, path.name)
    except OSError as exc:
        raise FlamePickleError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except ValueError as exc:
        raise FlamePickleError(f"{path.name} is not a .npy file ({exc}).") from exc
    if isinstance(arr, np.ndarray) and arr.dtype.hasobject and arr.shape == ():
        arr = arr.item()
    return to_plain(arr)


