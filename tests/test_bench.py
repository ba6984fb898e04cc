"""rtstyle.bench: timing of the uint8 hot path, FLOPs from the ONNX graph, the report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rtstyle.bench import bench, count_flops, count_params, format_report, texture_frames
from rtstyle.stylizer import FORMAT


def minimal_model(path, cout: int = 3) -> str:
    """The smallest graph that follows the rtstyle contract, with one 1×1 Conv 3→cout→3."""
    w1 = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.3, (cout, 3, 1, 1)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(np.zeros(cout, np.float32), "b1")
    # back to 3 channels with a fixed 1×1 mix (a second Conv, so the count covers several)
    w2 = numpy_helper.from_array(np.ones((3, cout, 1, 1), np.float32) / cout, "w2")
    lo = numpy_helper.from_array(np.array(0, np.float32), "lo")
    hi = numpy_helper.from_array(np.array(255, np.float32), "hi")
    nodes = [
        helper.make_node("Cast", ["frame"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["f"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w1", "b1"], ["c1"]),
        helper.make_node("Conv", ["c1", "w2"], ["c2"]),
        helper.make_node("Transpose", ["c2"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Clip", ["nhwc", "lo", "hi"], ["clipped"]),
        helper.make_node("Cast", ["clipped"], ["stylized"], to=TensorProto.UINT8),
    ]
    shape = ["batch", "height", "width", 3]
    graph = helper.make_graph(
        nodes, "minimal",
        [helper.make_tensor_value_info("frame", TensorProto.UINT8, shape)],
        [helper.make_tensor_value_info("stylized", TensorProto.UINT8, shape)],
        initializer=[w1, b1, w2, lo, hi],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="rtstyle.format", value=FORMAT)
    model.metadata_props.add(key="rtstyle.name", value="minimal")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture
def minimal(tmp_path):
    return minimal_model(tmp_path / "minimal.onnx", cout=5)


def test_bench_fields_on_minimal_model(minimal):
    width, height = 64, 48
    result = bench(minimal, size=(width, height), provider="cpu", frames=12, threads=1, warmup=2)
    json.dumps(result)  # the CLI prints it as JSON
    assert result["model"] == "minimal"
    assert result["tier"] == "quality"
    assert result["size"] == "64x48"
    assert result["provider"] == "CPUExecutionProvider"
    assert result["fallback"] is None
    assert result["frames"] == 12
    assert result["threads"] == 1
    assert result["fps"] > 0
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    assert lat["mean"] > 0
    assert result["fps"] == pytest.approx(1000 / lat["p50"], rel=0.01)
    # 2 · Cout · Cin/group · kH · kW · Hout · Wout for each Conv: 3→5 then 5→3, both 1×1
    assert result["flops"] == 2 * 5 * 3 * 1 * 1 * height * width + 2 * 3 * 5 * 1 * 1 * height * width
    assert result["params"] == 5 * 3 + 5 + 3 * 5 + 1 + 1
    report = format_report(result)
    assert "minimal" in report and "64x48" in report and "p99" in report and "GFLOPs" in report


def test_flops_scale_with_size_and_group(tmp_path):
    path = minimal_model(tmp_path / "m.onnx", cout=3)
    assert count_flops(path, 10, 20) == 2 * (3 * 3) * 200 * 2
    assert count_flops(path, 20, 20) == 2 * count_flops(path, 10, 20)
    # a grouped, strided, padded 3×3 conv: output 5×10, Cin/group = 1
    model = onnx.load(path)
    conv = model.graph.node[2]
    del conv.attribute[:]
    conv.attribute.extend([
        helper.make_attribute("group", 3), helper.make_attribute("strides", [2, 2]),
        helper.make_attribute("pads", [1, 1, 1, 1]), helper.make_attribute("kernel_shape", [3, 3]),
    ])
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones((3, 1, 3, 3), np.float32), "w1"))
    grouped = tmp_path / "grouped.onnx"
    onnx.save(model, str(grouped))
    # first conv: 2·3·1·9·5·10 on the 5×10 output; second (1×1, 3→3) runs at 5×10 too
    assert count_flops(grouped, 10, 20) == 2 * 3 * 1 * 9 * 50 + 2 * 3 * 3 * 50
    assert count_params(grouped) == 27 + 3 + 9 + 2


def test_flops_through_exported_padding(tiny_model):
    """The exported graph sizes its paddings with shape arithmetic; counting must see through it.
    tiny_model is Johnson's layout with channels (4, 8, 8) and one residual block."""
    h, w = 45, 70  # odd: padded inside the graph to 48×72 (a multiple of the stride, 4)
    H, W = 48, 72
    expected = (
        2 * 3 * 81 * 4 * H * W  # 9×9 3→4
        + 2 * 4 * 9 * 8 * (H // 2) * (W // 2)  # stride-2 4→8
        + 2 * 8 * 9 * 8 * (H // 4) * (W // 4)  # stride-2 8→8
        + 2 * (2 * 8 * 9 * 8 * (H // 4) * (W // 4))  # one residual block: two 8→8
        + 2 * 8 * 9 * 8 * (H // 2) * (W // 2)  # upsample, 8→8
        + 2 * 8 * 9 * 4 * H * W  # upsample, 8→4
        + 2 * 4 * 81 * 3 * H * W  # 9×9 4→3
    )
    assert count_flops(tiny_model, h, w) == expected
    result = bench(tiny_model, size=(w, h), provider="cpu", frames=3, warmup=1, threads=1)
    assert result["flops"] == expected
    assert result["provider"] == "CPUExecutionProvider"


def test_texture_frames_differ():
    frames = texture_frames(32, 24, count=3)
    assert all(f.shape == (24, 32, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])
    assert 30 < float(frames[0].std())  # a texture, not a flat field


def test_bench_module_does_not_import_torch():
    code = "import sys, rtstyle.bench; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_bench_reports_where_the_nodes_ran(tiny_model):
    result = bench(tiny_model, size=(40, 30), provider="cpu", frames=2, warmup=1, threads=1)
    assert result["placement"]["counts"]["CPUExecutionProvider"] > 10
    assert result["placement_warning"] is None and result["io_binding"] is False
    assert "nodes ran on: CPU " in format_report(result)


def test_bench_times_the_pipeline_the_user_runs(tiny_model):
    """Stroke scale 2 runs the network at 256 px on the longer side: the FLOPs are counted there,
    and the report names every stage of the frame."""
    result = bench(tiny_model, size=(640, 480), provider="cpu", frames=3, warmup=1, threads=1,
                   stroke_scale=2.0, preserve_color=True, stabilize=True, network_budget=2 * 10**9)
    assert result["network_size"] == "256x192"
    assert result["flops"] == count_flops(tiny_model, 192, 256)
    assert result["stages"] == ["shrink 640x480 to 256x192", "network at 256x192 (in tiles above 2 GB)", "stabilizer 0.6",
                                "guided upsample to 640x480", "colour kept"]
    assert 0 < result["network_ms"]["p50"] < result["latency_ms"]["p50"]
    report = format_report(result)
    assert "stages timed: shrink 640x480 to 256x192" in report and "of which the network: p50" in report
