"""ONNX graph utilities: fold constant arithmetic, and list what TensorRT would refuse.

`fold_constants` evaluates every node whose inputs are known (initializers, constants, and
shapes that shape inference has made concrete) and replaces it by an initializer. The export
uses it on the dynamic-size graph (only true constants fold, such as the reflection pads'
amounts); `bench.count_flops` uses it after fixing the input size, so that the padding
arithmetic folds too and every Conv gets a concrete size.

`tensorrt_blockers` names the patterns that make TensorRT reject a node and so split the
graph into pieces (each one a separate engine, with copies and CPU nodes between them).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MAX_FOLD_ELEMENTS = 1 << 20  # shape arithmetic is folded; anything this big is real data


def inferred_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Every value's shape after onnx shape inference (None for an unknown dimension)."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {}
    g = inferred.graph
    for vi in (*g.input, *g.value_info, *g.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return shapes


def inferred_types(model: onnx.ModelProto) -> dict[str, int]:
    """Every value's element type (onnx.TensorProto enum) after shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types = {t.name: t.data_type for t in g.initializer}
    for vi in (*g.input, *g.value_info, *g.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    for node in g.node:
        if node.op_type == "Constant":
            types[node.output[0]] = node.attribute[0].t.data_type
    return types


def fold_constants(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Evaluate every node whose inputs are known constants or concrete shapes, until nothing
    changes; return the smaller model and the known constants (initializers included)."""
    from onnx.reference import ReferenceEvaluator

    known = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    opsets = list(model.opset_import)
    for _ in range(64):
        shapes = inferred_shapes(model)
        kept, folded = [], []
        for node in model.graph.node:
            value = _fold_node(node, known, shapes, opsets, ReferenceEvaluator)
            if value is None:
                kept.append(node)
                continue
            for name, array in zip(node.output, value):
                known[name] = array
                folded.append(numpy_helper.from_array(np.asarray(array), name))
        if not folded:
            break
        del model.graph.node[:]
        model.graph.node.extend(kept)
        model.graph.initializer.extend(folded)
    _drop_unused_initializers(model.graph)
    return model, known


def _fold_node(node, known, shapes, opsets, evaluator) -> list[np.ndarray] | None:
    if node.op_type == "Shape":
        shape = shapes.get(node.input[0])
        if not shape or any(d is None for d in shape):
            return None
        attrs = {a.name: a.i for a in node.attribute}
        picked = shape[attrs.get("start", 0):attrs["end"]] if "end" in attrs else shape[attrs.get("start", 0):]
        return [np.asarray(picked, dtype=np.int64)]
    if node.op_type in ("Conv", "ConvTranspose") or node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type != "Constant":
        inputs = [n for n in node.input if n]
        if not inputs or any(n not in known for n in inputs):
            return None
        if sum(known[n].size for n in inputs) > MAX_FOLD_ELEMENTS:
            return None
    if any(a.type == a.GRAPH for a in node.attribute):
        return None  # If / Loop / Scan: leave alone
    graph = helper.make_graph(
        [node], "fold",
        [helper.make_tensor_value_info(n, 0, None) for n in node.input if n],
        [helper.make_tensor_value_info(n, 0, None) for n in node.output if n],
    )
    try:
        session = evaluator(helper.make_model(graph, opset_imports=opsets))
        outputs = session.run(None, {n: known[n] for n in node.input if n})
    except Exception:
        return None
    if any(np.asarray(o).size > MAX_FOLD_ELEMENTS for o in outputs):
        return None
    return [np.asarray(o) for o in outputs]


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def tensorrt_blockers(model: onnx.ModelProto) -> list[str]:
    """What in this graph TensorRT 10 rejects (each one splits the graph); empty when none.

    Checked, from the ONNX-TensorRT operator matrix and NVIDIA's issue tracker:
    a uint8 graph input must go straight into a Cast (TensorRT takes uint8 only as network
    input/output; NVIDIA/TensorRT#3985); Clip is float only; a Pad's amounts must come as one
    1-D tensor, not through a Reshape of a shape tensor (IShuffleLayer on a shape tensor,
    NVIDIA/TensorRT#2045).
    """
    graph = model.graph
    types = inferred_types(model)
    producers = {o: n for n in graph.node for o in n.output}
    problems = []
    for inp in graph.input:
        if inp.type.tensor_type.elem_type != TensorProto.UINT8:
            continue
        consumers = [n for n in graph.node if inp.name in n.input]
        if not consumers or any(n.op_type != "Cast" for n in consumers):
            ops = ", ".join(n.op_type for n in consumers) or "nothing"
            problems.append(f"uint8 input {inp.name!r} goes into {ops}, not only into a Cast")
    for node in graph.node:
        if node.op_type == "Clip" and types.get(node.input[0]) not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16):
            problems.append(f"Clip {node.name!r} on {TensorProto.DataType.Name(types.get(node.input[0], 0))} (TensorRT's Clip is float only)")
        if node.op_type == "Pad" and len(node.input) > 1 and _reaches(node.input[1], "Reshape", producers):
            problems.append(f"Pad {node.name!r} takes its amounts through a Reshape of a shape tensor")
        if node.op_type == "Reshape" and types.get(node.input[0]) in (TensorProto.INT64, TensorProto.INT32):
            problems.append(f"Reshape {node.name!r} of an integer (shape) tensor")
    return problems


def _reaches(name: str, op_type: str, producers: dict) -> bool:
    """Whether `name` is computed, at any depth, by a node of `op_type`."""
    stack, seen = [name], set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type == op_type:
            return True
        stack.extend(node.input)
    return False
