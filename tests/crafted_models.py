"""Small hand-built ONNX models in rtstyle's frame format (uint8 BGR N×H×W×3 in and out), each
wrong in one way a hostile or careless model file can be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rtstyle.stylizer import FORMAT

FRAMES = ["batch", "height", "width", 3]


def frame_model(path: str | Path, nodes: list, initializers: list = (), output_shape=FRAMES, **save) -> Path:
    """Save a graph from input `frame` to output `stylized` with rtstyle's metadata."""
    graph = helper.make_graph(
        nodes, "crafted",
        [helper.make_tensor_value_info("frame", TensorProto.UINT8, FRAMES)],
        [helper.make_tensor_value_info("stylized", TensorProto.UINT8, output_shape)],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="rtstyle.format", value=FORMAT)
    onnx.save(model, str(path), **save)
    return Path(path)


def identity_model(path: str | Path) -> Path:
    """Returns the frame as it is: no instance normalization to tile by."""
    return frame_model(path, [helper.make_node("Identity", ["frame"], ["stylized"])])


def fixed_size_model(path: str | Path, side: int = 8) -> Path:
    """A Reshape to side×side frames: fails at run time on any other size."""
    shape = numpy_helper.from_array(np.array([1, side, side, 3], np.int64), "shape")
    return frame_model(path, [helper.make_node("Reshape", ["frame", "shape"], ["stylized"])], [shape])


def flat_output_model(path: str | Path) -> Path:
    """Returns the frame as one flat vector (rank 1), its shape left undeclared."""
    flat = numpy_helper.from_array(np.array([-1], np.int64), "flat")
    return frame_model(path, [helper.make_node("Reshape", ["frame", "flat"], ["stylized"])], [flat], output_shape=None)


def external_data_model(path: str | Path, location: str) -> Path:
    """A model whose one weight (a uint8 floor for Max) is read from `location`, relative to
    its folder as ONNX says; the file there is written when it lies inside that folder."""
    path = Path(path)
    floor = numpy_helper.from_array(np.zeros(1, np.uint8), "floor")
    floor.ClearField("raw_data")
    floor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "1")):
        floor.external_data.add(key=key, value=value)
    target = (path.parent / location).resolve()
    if target.is_relative_to(path.parent.resolve()):
        target.write_bytes(b"\0")
    return frame_model(path, [helper.make_node("Max", ["frame", "floor"], ["stylized"])], [floor])
