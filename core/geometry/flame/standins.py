"""Stand-ins for chumpy and scipy classes in FLAME pickles, and their conversion to numpy.

:class:`RestrictedUnpickler` (``flame_pickle``) never imports chumpy or scipy: where a pickle
names ``chumpy.ch.Ch`` or ``scipy.sparse.csc_matrix`` it gets a stand-in class from here that
only records its constructor arguments and state. :func:`to_plain` then turns stand-ins into
numpy arrays: a chumpy ``Ch`` into its ``x``, a few chumpy operations evaluated with numpy,
sparse matrices into dense arrays.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from core.errors import GafetError

__all__ = ["CHUMPY_MODULES", "SPARSE_CLASSES", "SPARSE_MODULES", "ChumpyStandIn", "FlamePickleError",
           "SparseStandIn", "StandIn", "standin_class", "to_plain"]

MAX_DENSE_ELEMENTS = 50_000_000  # a sparse matrix larger than this is not a FLAME regressor


class FlamePickleError(GafetError):
    """A pickle is not readable as a FLAME file (truncated, or holds objects we cannot convert)."""


# ---------------------------------------------------------------------------------------------
# Stand-ins: classes that take the place of chumpy / scipy classes and only record state.


class StandIn:
    """Records ``__new__``/``__init__`` arguments and the BUILD state; executes nothing."""

    global_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:
        obj = object.__new__(cls)
        obj.args = args
        obj.state = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # called by REDUCE / INST paths
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise FlamePickleError(f"The pickled {self.global_name} has a state of type "
                                   f"{type(state).__name__}; a dict was expected.")
        self.state = dict(state)

    def __repr__(self) -> str:
        return f"<stand-in {self.global_name} keys={sorted(map(str, self.state))}>"


class ChumpyStandIn(StandIn):
    """Takes the place of a chumpy class (``chumpy.ch.Ch``, ``chumpy.reordering.*``, ...).

    chumpy's ``Ch.__getstate__`` returns a copy of ``__dict__`` without ``_parents``/``_cache``;
    a plain ``Ch`` keeps its value in ``'x'``, operations keep their operands in ``'a'``/``'b'``
    and their settings in other keys (``'axes'``, ``'newshape'``, ``'idxs'``, ...).
    """


class SparseStandIn(StandIn):
    """Takes the place of a scipy sparse matrix class; ``fmt`` is ``'csc'``, ``'csr'`` or ``'coo'``."""

    fmt = "csc"


_STANDIN_CACHE: dict[tuple[str, str], type[StandIn]] = {}
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CHUMPY_MODULES = ("chumpy.ch", "chumpy.reordering", "chumpy.ch_ops")
SPARSE_MODULES = ("scipy.sparse", "scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr",
                  "scipy.sparse._csr", "scipy.sparse.coo", "scipy.sparse._coo", "scipy.sparse._arrays")
SPARSE_CLASSES = {"csc_matrix": "csc", "csc_array": "csc", "csr_matrix": "csr", "csr_array": "csr",
                  "coo_matrix": "coo", "coo_array": "coo"}


def standin_class(module: str, name: str, base: type[StandIn], **attrs: Any) -> type[StandIn]:
    key = (module, name)
    if key not in _STANDIN_CACHE:
        _STANDIN_CACHE[key] = type(f"StandIn_{name}", (base,), {"global_name": f"{module}.{name}", **attrs})
    return _STANDIN_CACHE[key]


# ---------------------------------------------------------------------------------------------
# Converting stand-ins to numpy


def to_plain(obj: Any, _depth: int = 0) -> Any:
    """Replace stand-ins by numpy arrays, recursively through dicts, lists and tuples."""
    if _depth > 64:
        raise FlamePickleError("The pickle nests objects more than 64 deep; not a FLAME file.")
    if isinstance(obj, ChumpyStandIn):
        return _eval_chumpy(obj, _depth + 1)
    if isinstance(obj, SparseStandIn):
        return _sparse_to_dense(obj)
    if isinstance(obj, dict):
        return {k: to_plain(v, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_plain(v, _depth + 1) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        return np.array([to_plain(v, _depth + 1) for v in obj.ravel()], dtype=object).reshape(obj.shape)
    return obj


def _array(obj: Any, depth: int, what: str) -> np.ndarray:
    val = to_plain(obj, depth + 1)
    if isinstance(val, np.ndarray | int | float | np.generic) and not isinstance(val, bool):
        return np.asarray(val)
    raise FlamePickleError(f"The chumpy {what} holds {type(val).__name__}, not an array.")


_CH_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "true_divide": np.divide, "power": np.power, "dot": np.dot, "matmul": np.matmul,
}


def _eval_chumpy(ch: ChumpyStandIn, depth: int) -> np.ndarray:
    """The value of a chumpy object: ``Ch`` → its ``x``; a few operations with numpy."""
    s, name = ch.state, ch.global_name.rsplit(".", 1)[-1]
    if name == "Ch" or (name not in _CH_BINARY and "x" in s and "a" not in s):
        for key in ("x", "_x"):
            if key in s:
                return _array(s[key], depth, f"{ch.global_name}.{key}")
        if ch.args:
            return _array(ch.args[0], depth, f"{ch.global_name} argument")
        raise FlamePickleError(f"The pickled {ch.global_name} has no value ('x'); keys: {sorted(s)}.")
    if name in _CH_BINARY and "a" in s and "b" in s:
        return _CH_BINARY[name](_array(s["a"], depth, name), _array(s["b"], depth, name))
    if "a" not in s:
        raise FlamePickleError(f"Cannot evaluate the chumpy object {ch.global_name} (keys {sorted(s)}).")
    a = _array(s["a"], depth, name)
    if name == "negative":
        return -a
    if name == "transpose":
        return np.transpose(a, s.get("axes"))
    if name in ("Reshape", "reshape"):
        return np.reshape(a, s["newshape"], order=s.get("order", "C"))
    if name == "Select":
        out = a.ravel()[np.asarray(s["idxs"]).ravel()]
        return out.reshape(s["preferred_shape"]) if s.get("preferred_shape") is not None else out
    if name in ("ravel", "Ravel"):
        return a.ravel()
    if name == "Ch":
        return a
    raise FlamePickleError(f"Cannot evaluate the chumpy operation {ch.global_name}; FLAME files "
                           f"normally hold only plain chumpy arrays (chumpy.ch.Ch).")


def _sparse_to_dense(sp: SparseStandIn) -> np.ndarray:
    s = sp.state
    shape = s.get("_shape", s.get("shape"))
    try:
        rows, cols = (int(n) for n in shape)
    except (TypeError, ValueError):
        raise FlamePickleError(f"The pickled {sp.global_name} has no valid shape ({shape!r}).") from None
    if rows < 0 or cols < 0 or rows * cols > MAX_DENSE_ELEMENTS:
        raise FlamePickleError(f"The pickled {sp.global_name} has shape {(rows, cols)}; too large for FLAME.")
    dense = np.zeros((rows, cols), dtype=np.float64)
    data = np.asarray(to_plain(s.get("data")), dtype=np.float64).ravel()
    try:
        if sp.fmt == "coo":
            if "coords" in s:
                r, c = (np.asarray(to_plain(x)).ravel() for x in s["coords"])
            else:
                r, c = np.asarray(to_plain(s["row"])).ravel(), np.asarray(to_plain(s["col"])).ravel()
        else:
            indices = np.asarray(to_plain(s["indices"])).ravel().astype(np.int64)
            indptr = np.asarray(to_plain(s["indptr"])).ravel().astype(np.int64)
            major = cols if sp.fmt == "csc" else rows
            if indptr.shape != (major + 1,) or indptr[-1] != data.size or np.any(np.diff(indptr) < 0):
                raise FlamePickleError(f"The pickled {sp.global_name} has inconsistent index pointers.")
            outer = np.repeat(np.arange(major), np.diff(indptr))
            r, c = (indices, outer) if sp.fmt == "csc" else (outer, indices)
        np.add.at(dense, (r.astype(np.int64), c.astype(np.int64)), data)
    except (KeyError, IndexError, ValueError) as exc:
        raise FlamePickleError(f"The pickled {sp.global_name} is inconsistent ({exc}).") from exc
    return dense
