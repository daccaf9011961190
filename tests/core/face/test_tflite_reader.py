"""The pure-Python TFLite reader and the op modules it rebuilds graphs from."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.assets import asset_path
from core.face.tflite.graph import UnsupportedOperatorError, load_tflite_graph
from core.face.tflite.layers import same_padding
from core.face.tflite.model import DimensionMetadata, Sparsity, TfliteFormatError, read_tflite
from core.face.tflite.schema import DimensionType, TensorType
from core.face.tflite.shape_ops import DepthToSpace, ResizeBilinear
from core.face.tflite.sparsity import densify

MODELS = {
    "short": ("face-detector", "face_detection_short_range.tflite"),
    "full": ("face-detector", "face_detection_full_range_sparse.tflite"),
    "mesh": ("face-mesh", "face_landmark.tflite"),
}


@pytest.fixture(scope="module")
def models(app_assets):
    return {k: read_tflite(asset_path(*v)) for k, v in MODELS.items()}


def test_parses_the_three_face_models(models):
    short, full, mesh = models["short"], models["full"], models["mesh"]
    assert short.tensors[short.inputs[0]].shape == (1, 128, 128, 3)
    assert [short.tensors[i].shape for i in short.outputs] == [(1, 896, 16), (1, 896, 1)]
    assert full.tensors[full.inputs[0]].shape == (1, 192, 192, 3)
    assert [full.tensors[i].shape for i in full.outputs] == [(1, 2304, 16), (1, 2304, 1)]
    assert mesh.tensors[mesh.inputs[0]].shape == (1, 192, 192, 3)
    assert [mesh.tensors[i].shape for i in mesh.outputs] == [(1, 1, 1, 1404), (1, 1, 1, 1)]
    counts = {k: {} for k in models}
    for k, m in models.items():
        for op in m.operators:
            counts[k][op.name] = counts[k].get(op.name, 0) + 1
    assert counts["short"]["CONV_2D"] == 21 and counts["short"]["DEPTHWISE_CONV_2D"] == 16
    assert counts["full"]["DENSIFY"] == 46 and counts["full"]["RESIZE_BILINEAR"] == 3
    assert counts["mesh"]["PRELU"] == 23
    # float16 weights, dequantized by DEQUANTIZE ops
    assert any(t.type == TensorType.FLOAT16 and t.data is not None for t in mesh.tensors)


def test_sparse_weights_of_the_full_range_model_densify(models):
    sparse = [t for t in models["full"].tensors if t.sparsity is not None]
    assert len(sparse) == 46
    for t in sparse[:5]:
        dense = densify(t.data, t.shape, t.sparsity)
        assert dense.shape == t.shape and dense.dtype == np.float16
        # every stored value lands somewhere, in order, and the rest is zero
        assert np.count_nonzero(dense) == np.count_nonzero(t.data)
        assert np.isclose(dense.astype(np.float64).sum(), t.data.astype(np.float64).sum())


def test_densify_block_sparse_matrix():
    # 4x4 matrix in 2x2 blocks: block row 0 holds block column 1, block row 1 holds columns 0 and 1
    sp = Sparsity(
        traversal_order=(0, 1, 2, 3),
        block_map=(0, 1),
        dims=(
            DimensionMetadata(DimensionType.DENSE, 2, None, None),
            DimensionMetadata(DimensionType.SPARSE_CSR, 0, np.array([0, 1, 3]), np.array([1, 0, 1])),
            DimensionMetadata(DimensionType.DENSE, 2, None, None),
            DimensionMetadata(DimensionType.DENSE, 2, None, None),
        ),
    )
    values = np.arange(1, 13, dtype=np.float32)
    expected = np.array([[0, 0, 1, 2], [0, 0, 3, 4], [5, 6, 9, 10], [7, 8, 11, 12]], np.float32)
    np.testing.assert_array_equal(densify(values, (4, 4), sp), expected)


def test_densify_rejects_inconsistent_structure():
    sp = Sparsity(traversal_order=(0, 1), block_map=(),
                  dims=(DimensionMetadata(DimensionType.DENSE, 2, None, None),
                        DimensionMetadata(DimensionType.SPARSE_CSR, 0, np.array([0, 1, 2]),
                                          np.array([0, 1]))))
    with pytest.raises(ValueError, match="values are stored"):
        densify(np.ones(3, np.float32), (2, 2), sp)


def test_rejects_non_tflite_bytes(tmp_path):
    with pytest.raises(TfliteFormatError):
        read_tflite(b"\x00" * 64)
    good = asset_path(*MODELS["short"]).read_bytes()
    with pytest.raises(TfliteFormatError):
        read_tflite(good[: len(good) // 3])


def test_same_padding_puts_the_extra_pixel_last():
    assert same_padding(128, 3, 2) == (0, 1)
    assert same_padding(127, 3, 2) == (1, 1)
    assert same_padding(64, 5, 1) == (2, 2)
    assert same_padding(10, 1, 1) == (0, 0)


def test_depth_to_space_uses_tensorflow_channel_order():
    b, c, h, w, bs = 2, 3, 2, 2, 2
    x_nhwc = torch.arange(b * h * w * c * bs * bs, dtype=torch.float32).reshape(b, h, w, c * bs * bs)
    y = DepthToSpace(block_size=bs)(x_nhwc.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    for i in range(bs):
        for j in range(bs):
            # TF: out[n, h*bs+i, w*bs+j, k] = in[n, h, w, (i*bs+j)*C + k]
            k = (i * bs + j) * c
            torch.testing.assert_close(y[:, i::bs, j::bs, :], x_nhwc[..., k:k + c])


@pytest.mark.parametrize("align_corners,half_pixel", [(False, False), (True, False), (False, True)])
def test_resize_bilinear_matches_tensorflow_formulas(align_corners, half_pixel):
    x = torch.rand(1, 2, 3, 5)
    y = ResizeBilinear(size=(7, 9), align_corners=align_corners, half_pixel_centers=half_pixel)(x)

    def src(dst, n_in, n_out):
        if align_corners:
            return dst * (n_in - 1) / (n_out - 1)
        if half_pixel:
            return max((dst + 0.5) * n_in / n_out - 0.5, 0.0)
        return dst * n_in / n_out

    for oy in range(7):
        for ox in range(9):
            sy, sx = src(oy, 3, 7), src(ox, 5, 9)
            y0, x0 = min(int(np.floor(sy)), 2), min(int(np.floor(sx)), 4)
            y1, x1 = min(y0 + 1, 2), min(x0 + 1, 4)
            fy, fx = sy - np.floor(sy), sx - np.floor(sx)
            top = x[..., y0, x0] * (1 - fx) + x[..., y0, x1] * fx
            bot = x[..., y1, x0] * (1 - fx) + x[..., y1, x1] * fx
            torch.testing.assert_close(y[..., oy, ox], top * (1 - fy) + bot * fy, atol=1e-5, rtol=0)


def test_graph_rejects_wrong_input_shape(app_assets):
    g = load_tflite_graph(asset_path(*MODELS["short"]))
    with pytest.raises(ValueError, match="expected shape"):
        g(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="expected 1 inputs"):
        g()


def test_unsupported_operator_is_named(models):
    import dataclasses

    m = models["mesh"]
    ops = list(m.operators)
    i = next(k for k, op in enumerate(ops) if op.name == "PRELU")
    ops[i] = dataclasses.replace(ops[i], name="BUILTIN_999")
    broken = dataclasses.replace(m, operators=tuple(ops))
    with pytest.raises(UnsupportedOperatorError, match="BUILTIN_999"):
        load_tflite_graph(broken)
