"""Export, the Stylizer runtime and provider selection."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from rtstyle.errors import UserError
from rtstyle.export import export_onnx, network_from_checkpoint
from rtstyle.stylizer import PROVIDER_NAMES, TRT_OPT, Stylizer, plan_providers


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


def test_auto_with_gpu_orders_tensorrt_cuda_cpu_with_caches_and_profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    plan = plan_providers("auto", available=ALL, gpu=True, tensorrt=True)
    names = [name for name, _ in plan.providers]
    assert names == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt = plan.providers[0][1]
    assert trt["trt_fp16_enable"] and trt["trt_engine_cache_enable"] and trt["trt_timing_cache_enable"]
    assert trt["trt_engine_cache_path"].startswith(str(tmp_path))
    assert trt["trt_profile_opt_shapes"] == "frame:" + "x".join(map(str, TRT_OPT))
    assert "trt_profile_min_shapes" in trt and "trt_profile_max_shapes" in trt


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
