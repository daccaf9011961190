"""The reader of dlib's serialized networks: primitives, the real file's structure, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import EXIT_ASSET
from core.judges.dlib_dat import DlibAffine, DlibConv, DlibFc, DlibPool, read_dlib_net
from core.judges.dlib_resnet import network_layout
from core.judges.errors import JudgeWeightsError


def _int(v: int) -> bytes:
    body = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


def _str(s: str) -> bytes:
    return _int(len(s)) + s.encode()


def _float(mantissa: int, exponent: int) -> bytes:
    return _int(mantissa) + _int(exponent)


@pytest.fixture(scope="module")
def dat(identity_assets) -> Path:
    from core.assets import asset_path

    return asset_path("identity-dlib", "dlib_face_recognition_resnet_model_v1.dat")


def test_real_file_structure(dat):
    net = read_dlib_net(dat, network_layout())
    assert net.input.size == (150, 150)
    assert np.allclose(net.input.mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    assert net.loss.name == "loss_metric_2" and net.loss.values[1] == pytest.approx(0.6)
    convs = [x for x in net.layers if isinstance(x, DlibConv)]
    assert len(convs) == 29 and convs[0].weight.shape == (32, 3, 7, 7) and convs[0].stride == (2, 2)
    assert len([x for x in net.layers if isinstance(x, DlibAffine)]) == 29
    pools = [x for x in net.layers if isinstance(x, DlibPool)]
    assert pools[0] == DlibPool("max", (3, 3), (2, 2), (0, 0)) and pools[-1].window == (0, 0)
    fc = net.layers[-1]
    assert isinstance(fc, DlibFc) and fc.weight.shape == (128, 256) and fc.bias is None
    n_params = sum(x.weight.size + (0 if x.bias is None else x.bias.size) for x in convs)
    assert n_params > 5_000_000 and all(np.isfinite(x.weight).all() for x in convs)


def test_primitives_in_a_hand_made_file(tmp_path):
    """A one-layer net: loss, a conv on the input (negative ints, floats, raw tensor floats)."""
    weights = np.arange(2 * 1 * 1 * 3 + 2, dtype="<f4") - 3.5  # 2 filters 1x1 over RGB, then 2 biases
    tensor = _int(2) + _int(1) + _int(1) + _int(1) + _int(len(weights)) + weights.tobytes()
    blob = b"".join([
        _int(1), _str("loss_metric_2"), _float(1, -3), _float(3, -2),  # margin 0.125, threshold 0.75
        _int(2),  # the add_layer on the input, version 2
        _str("input_rgb_image"), _float(1, 7), _float(-1, 0), _float(5, -1),  # 128, -1, 2.5
        # con_4: params, num_filters, nr, nc, stride y, x, padding y, x
        _str("con_4"), tensor, _int(2), _int(1), _int(1), _int(1), _int(1), _int(0), _int(0),
        _int(1), _int(2), _int(3), _int(1), _int(1),  # filters alias (2, 3, 1, 1)
        _int(1), _int(1), _int(2), _int(1), _int(1),  # biases alias (1, 2, 1, 1)
        *(_float(1, 0) for _ in range(4)),
        b"1", b"0", b"0",  # flags
        *(_int(2) + _int(0) * 4 for _ in range(3)),  # x_grad, cached_output, grad_final: empty
    ])
    path = tmp_path / "tiny.dat"
    path.write_bytes(blob)
    net = read_dlib_net(path, ("layer",))
    assert net.loss.values == (0.125, 0.75)
    assert net.input.mean_rgb == (128.0, -1.0, 2.5) and net.input.size is None
    (conv,) = net.layers
    assert isinstance(conv, DlibConv) and conv.weight.shape == (2, 3, 1, 1)
    assert np.array_equal(conv.weight.ravel(), weights[:6]) and np.array_equal(conv.bias, weights[6:])

    path.write_bytes(blob[:-3])
    with pytest.raises(JudgeWeightsError, match="ends early"):
        read_dlib_net(path, ("layer",))


def test_bad_files(tmp_path, dat):
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x01\x01\x04junk")
    with pytest.raises(JudgeWeightsError) as err:
        read_dlib_net(bad, network_layout())
    assert err.value.exit_code == EXIT_ASSET and "bad.dat" in str(err.value)
    with pytest.raises(JudgeWeightsError):  # the real file read with the wrong layout
        read_dlib_net(dat, network_layout()[:-2])
