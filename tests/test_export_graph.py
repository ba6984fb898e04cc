"""The exported graph is one TensorRT can take whole, and computes exactly what the old one did."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto
from torch import nn

from rtstyle.export import export_onnx, network_from_checkpoint
from rtstyle.onnxgraph import inferred_types, tensorrt_blockers
from rtstyle.registry import ANYSTYLE_ENCODER, models_dir

SHAPES = [(1, 1, 7, 3), (1, 37, 53, 3), (1, 101, 143, 3), (2, 37, 53, 3), (1, 1, 1, 3)]


class PreviousFrameModel(nn.Module):
    """The export head and tail as they were before TensorRT shaping (Transpose and Slice on
    uint8 before the Cast, the network's own traced padding)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, frame):
        x = frame.permute(0, 3, 1, 2).flip(1).float() / 255.0
        y = self.net(x).clamp(0.0, 1.0) * 255.0
        return torch.round(y).flip(1).permute(0, 2, 3, 1).to(torch.uint8)


def export_previous(checkpoint, path):
    net, _ = network_from_checkpoint(checkpoint)
    example = torch.zeros((1, 67, 93, 3), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PreviousFrameModel(net), (example,), str(path), input_names=["frame"], output_names=["stylized"],
            dynamic_axes={"frame": {0: "b", 1: "h", 2: "w"}, "stylized": {0: "b", 1: "h", 2: "w"}},
            opset_version=17, dynamo=False,
        )
    return path


def assert_tensorrt_shaped(model: onnx.ModelProto):
    graph = model.graph
    consumers = [n for n in graph.node if "frame" in n.input]
    assert [n.op_type for n in consumers] == ["Cast"], "the uint8 input must go only into a Cast"
    types = inferred_types(model)
    for node in graph.node:
        if node.op_type == "Clip":
            assert types[node.input[0]] == TensorProto.FLOAT, f"{node.name}: Clip on a non-float tensor"
        if node.op_type == "Reshape":
            assert types[node.input[0]] not in (TensorProto.INT64, TensorProto.INT32), f"{node.name}: Reshape of a shape tensor"
    pads = [n for n in graph.node if n.op_type == "Pad"]
    assert pads and all(n.op_type != "Reshape" for n in graph.node if any(o in p.input for p in pads for o in n.output))
    assert tensorrt_blockers(model) == []


@pytest.fixture(scope="module")
def fast_checkpoints(tmp_path_factory):
    from conftest import make_checkpoint

    d = tmp_path_factory.mktemp("fast")
    return [make_checkpoint(d / "s16.pt", arch="fast", channels=(4, 8, 8, 8)), make_checkpoint(d / "s4.pt", arch="fast", channels=(4, 8))]


def test_tiny_model_graph_is_tensorrt_shaped(tiny_model):
    assert_tensorrt_shaped(onnx.load(tiny_model))


def test_blockers_are_found_in_the_previous_export(tiny_checkpoint, tmp_path):
    problems = tensorrt_blockers(onnx.load(export_previous(tiny_checkpoint, tmp_path / "old.onnx")))
    text = "\n".join(problems)
    assert "goes into Transpose" in text and "Clip" in text and "INT64" in text
    assert "Reshape of a shape tensor" in text or "Reshape" in text and "Pad" in text


def _outputs(path, shapes=SHAPES):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [session.run(None, {"frame": np.random.default_rng(i).integers(0, 256, s, dtype=np.uint8)})[0] for i, s in enumerate(shapes)]


@pytest.mark.parametrize("arch", ["johnson", "fast-stride16", "fast-stride4"])
def test_new_export_is_bit_identical_to_the_previous_one(arch, tiny_checkpoint, fast_checkpoints, tmp_path):
    checkpoint = {"johnson": tiny_checkpoint, "fast-stride16": fast_checkpoints[0], "fast-stride4": fast_checkpoints[1]}[arch]
    new = tmp_path / "new.onnx"
    export_onnx(checkpoint, new)
    assert_tensorrt_shaped(onnx.load(new))
    for got, want in zip(_outputs(new), _outputs(export_previous(checkpoint, tmp_path / "old.onnx"))):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(p.stem for p in models_dir().glob("*.onnx") if p.stem != ANYSTYLE_ENCODER))
def test_every_bundled_model_is_tensorrt_shaped(name):
    model = onnx.load(models_dir() / f"{name}.onnx")
    assert_tensorrt_shaped(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["rtstyle.precision"] == "fp32"


def test_the_painting_encoder_is_tensorrt_shaped():
    """The any-painting network's encoder (a painting in, a style code out): no frame, no padding."""
    model = onnx.load(models_dir() / f"{ANYSTYLE_ENCODER}.onnx")
    assert [n.op_type for n in model.graph.node if "painting" in n.input] == ["Cast"]
    assert tensorrt_blockers(model) == []


def test_fp16_export_keeps_instance_norm_in_fp32_and_the_head_clean(tiny_checkpoint, tmp_path):
    export_onnx(tiny_checkpoint, tmp_path / "h.onnx", fp16=True)
    model = onnx.load(tmp_path / "h.onnx")
    types = inferred_types(model)
    norms = [n for n in model.graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all(types[n.input[0]] == TensorProto.FLOAT for n in norms)
    assert [n.op_type for n in model.graph.node if "frame" in n.input] == ["Cast"]
