"""Export, the Stylizer runtime and provider selection."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from rtstyle.errors import UserError
from rtstyle.export import export_onnx, network_from_checkpoint
from rtstyle.stylizer import PROVIDER_NAMES, Stylizer, plan_providers


def torch_reference(checkpoint, frame_bgr):
    net, _ = network_from_checkpoint(checkpoint)
    with torch.no_grad():
        x = torch.from_numpy(frame_bgr[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
        return net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()[..., ::-1]


@pytest.mark.parametrize("height,width", [(37, 53), (64, 96), (1, 7)])
def test_onnx_matches_pytorch_on_any_size(tiny_model, tiny_checkpoint, height, width):
    frame = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = Stylizer(tiny_model, provider="cpu")(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    diff = np.abs(out / 255.0 - torch_reference(tiny_checkpoint, frame)).max()
    assert diff < 1 / 255


def test_export_reports_parity_and_metadata(tiny_checkpoint, tmp_path):
    report = export_onnx(tiny_checkpoint, tmp_path / "m.onnx")
    assert report["max_abs_diff"] < 1 / 255
    meta = {p.key: p.value for p in onnx.load(tmp_path / "m.onnx").metadata_props}
    assert meta["rtstyle.format"] == "rtstyle-bgr-uint8-nhwc-v1" and meta["rtstyle.tier"] == "quality"


@pytest.mark.parametrize("channels", [(4, 8, 8, 8), (4, 8)], ids=["stride16", "stride4"])
def test_fast_architecture_exports_and_handles_odd_sizes(tmp_path, channels):
    from conftest import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "fast.pt", arch="fast", channels=channels)
    export_onnx(ckpt, tmp_path / "fast.onnx")
    frame = np.random.default_rng(0).integers(0, 256, (45, 71, 3), dtype=np.uint8)
    out = Stylizer(tmp_path / "fast.onnx", provider="cpu")(frame)
    assert np.abs(out / 255.0 - torch_reference(ckpt, frame)).max() < 1 / 255


def test_batch_of_frames(tiny_model):
    frames = np.random.default_rng(1).integers(0, 256, (3, 24, 32, 3), dtype=np.uint8)
    stylizer = Stylizer(tiny_model, provider="cpu")
    batch = stylizer(frames)
    assert batch.shape == frames.shape
    np.testing.assert_array_equal(batch[1], stylizer(frames[1]))


def test_fp16_export_stays_close_to_fp32(tiny_checkpoint, tmp_path):
    export_onnx(tiny_checkpoint, tmp_path / "h.onnx", fp16=True)
    frame = np.random.default_rng(2).integers(0, 256, (33, 47, 3), dtype=np.uint8)
    full = Stylizer(tmp_path / "h.onnx", provider="cpu")(frame).astype(int)
    ref = np.round(torch_reference(tiny_checkpoint, frame) * 255)
    assert np.abs(full - ref).max() <= 3


def test_rejects_an_onnx_model_that_is_not_a_style_model(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, tmp_path / "relu.onnx")
    with pytest.raises(UserError, match="not an rtstyle style model"):
        Stylizer(tmp_path / "relu.onnx", provider="cpu")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UserError, match="cannot load"):
        Stylizer(tmp_path / "junk.onnx", provider="cpu")


def test_unknown_model_name_lists_the_bundled_ones():
    with pytest.raises(UserError, match="no such model"):
        Stylizer("no-such-style", provider="cpu")


ALL = list(PROVIDER_NAMES.values())


def test_auto_without_gpu_asks_for_cpu_only():
    plan = plan_providers("auto", available=ALL, gpu=False)
    assert [name for name, _ in plan.providers] == ["CPUExecutionProvider"]


def test_auto_with_gpu_orders_tensorrt_cuda_cpu_with_keyed_caches_and_no_fixed_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    plan = plan_providers("auto", available=ALL, gpu=True, tensorrt=True, key="rtstyle_abc")
    names = [name for name, _ in plan.providers]
    assert names == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt = plan.providers[0][1]
    assert trt["trt_engine_cache_enable"] and trt["trt_timing_cache_enable"]
    assert trt["trt_engine_cache_path"] == trt["trt_timing_cache_path"] == str(tmp_path / "rtstyle" / "trt")
    assert trt["trt_engine_cache_prefix"] == "rtstyle_abc"
    # profiles are left to onnxruntime: any frame size and batch must run (1x7 frames, batches)
    assert not any(k.startswith("trt_profile_") for k in trt)
    assert trt["trt_fp16_enable"] is False and "trt_op_types_to_exclude" not in trt  # fp32 model: fp32 engine
    assert plan.providers[1][1] == {"cudnn_conv_algo_search": "HEURISTIC"}


def test_explicit_tensorrt_always_brings_cuda_then_cpu():
    plan = plan_providers("tensorrt", available=ALL)
    assert plan.names == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert plan_providers("cuda", available=ALL).names == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert plan_providers("cpu", available=ALL).names == ["CPUExecutionProvider"]


def test_fp16_models_keep_instance_norm_out_of_tensorrt(tmp_path):
    from rtstyle.stylizer import tensorrt_options

    options = tensorrt_options(tmp_path, "k", fp16=True)
    assert options["trt_fp16_enable"] is True and options["trt_op_types_to_exclude"] == "InstanceNormalization"


def test_engine_cache_key_is_the_model_content(tiny_model, tmp_path):
    from rtstyle.stylizer import model_key

    copy = tmp_path / "same-name.onnx"
    copy.write_bytes(tiny_model.read_bytes())
    assert model_key(copy) == model_key(tiny_model)
    model = onnx.load(copy)
    model.graph.initializer[0].raw_data = bytes(len(model.graph.initializer[0].raw_data))  # "retrained" weights
    onnx.save(model, copy)
    assert model_key(copy) != model_key(tiny_model) and model_key(copy).startswith("rtstyle_")


def test_gpu_request_creates_the_engine_cache_folder_with_its_parents(tiny_model, tmp_path, monkeypatch):
    import onnxruntime as ort

    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no TensorRT provider")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh" / "machine"))
    stylizer = Stylizer(tiny_model, provider="tensorrt")
    assert (tmp_path / "fresh" / "machine" / "rtstyle" / "trt").is_dir()
    assert stylizer.plan.names[:2] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    if stylizer.provider == "CPUExecutionProvider":  # no GPU here: the reason, not just the fact
        assert "missing:" in stylizer.fallback or "EP Error" in stylizer.fallback


def test_auto_with_gpu_but_no_tensorrt_skips_it():
    plan = plan_providers("auto", available=ALL, gpu=True, tensorrt=False)
    assert [name for name, _ in plan.providers] == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_explicit_provider_missing_from_the_build_is_an_error():
    with pytest.raises(UserError, match="not in this onnxruntime build"):
        plan_providers("cuda", available=["CPUExecutionProvider"])
    with pytest.raises(UserError, match="unknown provider"):
        plan_providers("metal")


def test_honest_fallback_when_cuda_cannot_run(tiny_model):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider")
    stylizer = Stylizer(tiny_model, provider="cuda")
    if stylizer.provider == "CPUExecutionProvider":  # no GPU here: it must say so
        assert "CUDAExecutionProvider" in stylizer.fallback and "CPUExecutionProvider" in stylizer.fallback
    else:
        assert stylizer.fallback is None


def test_io_binding_buffers_once_per_shape_same_output_as_run(tiny_model):
    plain = Stylizer(tiny_model, provider="cpu", io_binding=False)
    bound = Stylizer(tiny_model, provider="cpu", io_binding=True)
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(37, 53, 3), (37, 53, 3), (1, 7, 3), (2, 37, 53, 3), (37, 53, 3)]]
    outputs = []
    for frame in frames:
        got = bound(frame)
        np.testing.assert_array_equal(got, plain(frame))
        outputs.append(got)
    # 37x53, then 1x7, then a batch of 2, then 37x53 again: four allocations, not five
    assert bound._binding.allocations == 4
    # an earlier result is not overwritten by a later frame through the same buffers
    np.testing.assert_array_equal(outputs[0], plain(frames[0]))


def test_node_placement_from_the_profiler(tiny_model):
    from rtstyle.stylizer import format_placement, placement_warning

    stylizer = Stylizer(tiny_model, provider="cpu", profile_nodes=True)
    placement = stylizer.node_placement(np.zeros((1, 9, 11, 3), np.uint8))
    n_graph = len(onnx.load(tiny_model).graph.node)
    assert set(placement["counts"]) == {"CPUExecutionProvider"}
    assert 0.5 * n_graph < placement["counts"]["CPUExecutionProvider"] <= 2 * n_graph
    assert "Conv" in placement["cpu_ops"]
    assert format_placement(placement) == f"CPU {placement['counts']['CPUExecutionProvider']} nodes"
    assert placement_warning(placement, stylizer.providers) is None  # a CPU session: nothing to warn about
    with pytest.raises(RuntimeError, match="profile_nodes"):
        Stylizer(tiny_model, provider="cpu").node_placement()


def test_placement_counts_and_warning_for_a_gpu_session():
    from rtstyle.stylizer import count_placement, format_placement, placement_warning

    def event(name, provider, op):
        return {"cat": "Node", "name": f"{name}_kernel_time", "args": {"provider": provider, "op_name": op}}

    events = [
        {"cat": "Session", "name": "session_initialization"},
        event("TensorrtExecutionProvider_TRTKernel_graph_main_1_0", "TensorrtExecutionProvider", "TRTKernel"),
        event("/Shape", "CPUExecutionProvider", "Shape"), event("/Gather", "CPUExecutionProvider", "Gather"),
        event("/Resize", "CUDAExecutionProvider", "Resize"),
        event("/Resize", "CUDAExecutionProvider", "Resize"),  # a second run: the same node, counted once
    ]
    placement = count_placement(events)
    assert placement["counts"] == {"TensorrtExecutionProvider": 1, "CPUExecutionProvider": 2, "CUDAExecutionProvider": 1}
    assert format_placement(placement) == "TensorRT 1 subgraph, CUDA 1 node, CPU 2 nodes"
    warning = placement_warning(placement, ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    assert "2 nodes ran on the CPU" in warning and "Gather, Shape" in warning
    only_gpu = count_placement(events[1:2])
    assert format_placement(only_gpu) == "TensorRT 1 subgraph, CPU 0 nodes"
    assert placement_warning(only_gpu, ["TensorrtExecutionProvider"]) is None


def test_ep_error_text_is_kept_without_its_source_location():
    from rtstyle.stylizer import _ep_error

    printed = (
        "*************** EP Error ***************\n"
        "EP Error /onnxruntime_src/onnxruntime/python/onnxruntime_pybind_state.cc:729 void onnxruntime::python::"
        "RegisterTensorRTPluginsAsCustomOps(PySessionOptions&, const onnxruntime::ProviderOptions&) Please install "
        "TensorRT libraries. when using ['TensorrtExecutionProvider', 'CPUExecutionProvider']\n"
        "Falling back to ['CPUExecutionProvider'] and retrying.\n"
    )
    assert _ep_error(printed) == "EP Error: Please install TensorRT libraries."
    assert _ep_error("nothing printed") is None


def test_fallback_names_a_dropped_cuda_behind_tensorrt(tiny_model):
    from rtstyle.stylizer import ProviderPlan

    stylizer = Stylizer(tiny_model, provider="cpu")
    assert stylizer.fallback is None
    trt, cuda, cpu = (PROVIDER_NAMES[k] for k in ("tensorrt", "cuda", "cpu"))
    # what a session that got TensorRT but lost CUDA reports (faked: there is no GPU here)
    stylizer.plan = ProviderPlan("tensorrt", [(trt, {}), (cuda, {}), (cpu, {})])
    stylizer.providers, stylizer.provider = [trt, cpu], trt
    assert stylizer.fallback.startswith("onnxruntime dropped CUDAExecutionProvider: nodes TensorrtExecutionProvider rejects run on the CPU")
    stylizer.providers, stylizer.provider = [trt, cuda, cpu], trt
    assert stylizer.fallback is None
