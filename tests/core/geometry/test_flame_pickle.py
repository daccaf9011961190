"""The restricted unpickler: refuses code, accepts FLAME-shaped pickles."""

from __future__ import annotations

import functools
import os
import pickle
import struct
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import GafetError
from core.geometry.flame.unpickler import (
    FlamePickleError,
    UnsafePickleError,
    load_restricted,
    load_restricted_npy,
)
from tests.helpers import flame_synthetic as fs


class _Evil:
    """Pickles as a call of ``func(*args)``."""

    def __init__(self, func: Any, args: tuple) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


@pytest.fixture
def marker() -> Path:
    path = Path(f"/tmp/pwned_{uuid.uuid4().hex}")
    yield path
    path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_os_system_is_refused_and_not_run(marker: Path, protocol: int) -> None:
    data = pickle.dumps(_Evil(os.system, (f"touch {marker}",)), protocol=protocol)
    with pytest.raises(UnsafePickleError, match=rf"'{os.system.__module__}\.system'"):
        load_restricted(data)
    assert not marker.exists()


def test_refused_error_is_a_user_facing_gafet_error(marker: Path) -> None:
    with pytest.raises(GafetError) as info:
        load_restricted(pickle.dumps(_Evil(os.system, (f"touch {marker}",)), protocol=2))
    assert "allow-list" in str(info.value) and "malicious" in str(info.value)


@pytest.mark.parametrize("protocol", [2, 4])
def test_builtins_eval_is_refused(marker: Path, protocol: int) -> None:
    data = pickle.dumps(_Evil(eval, (f"__import__('os').system('touch {marker}')",)), protocol=protocol)
    with pytest.raises(UnsafePickleError, match=r"builtin(s|__)\.eval'"):
        load_restricted(data)
    assert not marker.exists()


def test_getattr_import_chain_is_refused(marker: Path) -> None:
    # getattr(__import__('os'), 'system')('touch ...'), written by hand in protocol 0.
    data = (b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S'os'\ntRS'system'\ntR"
            b"(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"'__builtin__\.getattr'"):
        load_restricted(data)
    assert not marker.exists()


@pytest.mark.parametrize("payload, name", [
    (lambda m: functools.partial(os.system, f"touch {m}"), "functools.partial"),
    (lambda m: _Evil(subprocess.Popen, (["touch", str(m)],)), "subprocess.Popen"),
    (lambda m: _Evil(os.getenv, ("HOME",)), "os.getenv"),
])
def test_other_callables_are_refused(marker: Path, payload: Any, name: str) -> None:
    with pytest.raises(UnsafePickleError, match=name.replace(".", r"\.")):
        load_restricted(pickle.dumps(payload(marker), protocol=4))
    assert not marker.exists()


@pytest.mark.parametrize("data, match", [
    (b"\x80\x02cnumpy\nndarray\nK\x05\x85R.", r"REDUCE instruction calls the class 'numpy\.ndarray'"),
    (b"\x80\x02cchumpy.ch\nCh\n)\x81)R.", r"REDUCE instruction calls an object"),
    (b"\x80\x02c__builtin__\nset\n}b.", r"BUILD instruction"),
    (b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.", r"only 'latin1'"),
    (b"ccopy_reg\n_reconstructor\n(cnumpy\nndarray\nc__builtin__\nobject\nNtR.", r"_reconstructor"),
    (b"\x80\x02X\x01\x00\x00\x00xQ.", r"persistent ids"),
    (b"\x80\x02\x82\x01.", r"EXT opcodes"),
])
def test_allow_listed_globals_cannot_be_misused(data: bytes, match: str) -> None:
    with pytest.raises(UnsafePickleError, match=match):
        load_restricted(data)


def test_malicious_object_npy_is_refused(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "landmark_embedding.npy"
    np.save(path, np.array([_Evil(os.system, (f"touch {marker}",))], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match=r"system'"):
        load_restricted_npy(path)
    assert not marker.exists()


def test_damaged_pickle_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"f": np.zeros(3)}, protocol=2)[:-20])
    with pytest.raises(FlamePickleError, match="generic_model.pkl is not a readable FLAME pickle"):
        load_restricted(path)


# ---------------------------------------------------------------------------------------------
# Acceptance


def test_synthetic_flame_file_loads_as_plain_numpy() -> None:
    out = load_restricted(fs.synthetic_files().model)
    want = fs.synthetic_flame().arrays
    assert set(out) == set(want)
    for key in ("v_template", "shapedirs", "posedirs", "J", "J_regressor", "weights", "f", "kintree_table"):
        assert isinstance(out[key], np.ndarray), key
        np.testing.assert_array_equal(out[key], want[key], err_msg=key)
    assert out["shapedirs"].shape == (5023, 3, 400) and out["f"].dtype == np.uint32
    assert out["bs_style"] == "lbs"


def _sbs(x: bytes) -> bytes:  # SHORT_BINSTRING: a Python-2 str
    return b"U" + bytes([len(x)]) + x


def _py2_array(values: np.ndarray) -> bytes:
    """An ndarray as Python 2's cPickle writes it: raw data in a BINSTRING, numpy.core names."""
    raw = values.tobytes()
    code = values.dtype.str[1:].encode()
    return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _sbs(b"b") + b"\x87R"
            b"(K\x01(" + b"".join(b"K" + bytes([n]) for n in values.shape) + b"t"
            b"cnumpy\ndtype\n" + _sbs(code) + b"K\x00K\x01\x87R"
            b"(K\x03" + _sbs(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
            b"\x89T" + struct.pack("<i", len(raw)) + raw + b"tb")


def test_python2_style_pickle_with_chumpy_and_old_scipy_names() -> None:
    x = np.arange(6, dtype="<f8").reshape(2, 3)
    ch = (b"cchumpy.ch\nCh\n)\x81}(" + _sbs(b"x") + _py2_array(x)
          + _sbs(b"_dirty_vars") + b"c__builtin__\nset\n]" + _sbs(b"x") + b"a\x85R" + _sbs(b"_itr") + b"Nub")
    dense = np.array([[0.0, 2.0], [3.0, 0.0]])
    csc = (b"ccopy_reg\n_reconstructor\n(cscipy.sparse.csc\ncsc_matrix\nc__builtin__\nobject\nNtR}("
           + _sbs(b"_shape") + b"K\x02K\x02\x86"
           + _sbs(b"data") + _py2_array(np.array([3.0, 2.0]))
           + _sbs(b"indices") + _py2_array(np.array([1, 0], dtype="<i4"))
           + _sbs(b"indptr") + _py2_array(np.array([0, 1, 2], dtype="<i4"))
           + _sbs(b"format") + _sbs(b"csc") + _sbs(b"maxprint") + b"K2ub")
    data = b"\x80\x02}(" + _sbs(b"shapedirs") + ch + _sbs(b"J_regressor") + csc + b"u."
    out = load_restricted(data)
    np.testing.assert_array_equal(out["shapedirs"], x)
    np.testing.assert_array_equal(out["J_regressor"], dense)


def test_chumpy_operations_are_evaluated_with_numpy() -> None:
    transpose = fs.make_op_class("chumpy.reordering", "transpose")
    add = fs.make_op_class("chumpy.ch_ops", "add")
    sin = fs.make_op_class("chumpy.ch_ops", "sin")
    x = np.arange(6.0).reshape(2, 3)
    with fs.fake_chumpy(transpose, add, sin):
        good = pickle.dumps({"t": transpose(a=fs.Ch(x), axes=(1, 0)), "s": add(a=fs.Ch(x), b=fs.Ch(x))},
                            protocol=2)
        bad = pickle.dumps({"y": sin(a=fs.Ch(x))}, protocol=2)
    out = load_restricted(good)
    np.testing.assert_array_equal(out["t"], x.T)
    np.testing.assert_array_equal(out["s"], 2 * x)
    with pytest.raises(FlamePickleError, match=r"chumpy operation chumpy\.ch_ops\.sin"):
        load_restricted(bad)


def test_deca_embedding_npy_with_torch_tensors_loads() -> None:
    out = load_restricted_npy(fs.synthetic_files().deca_embedding)
    want = fs.synthetic_flame().embedding
    assert set(out) == set(want)
    for key, val in want.items():
        assert isinstance(out[key], np.ndarray), key
        np.testing.assert_allclose(out[key], val, rtol=1e-6, err_msg=key)
