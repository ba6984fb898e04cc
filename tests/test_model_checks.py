"""Model files checked before onnxruntime reads them, run-time failures as one line (issue 36)."""

import hashlib
import os

import numpy as np
import pytest

from crafted_models import external_data_model, fixed_size_model, flat_output_model, identity_model
from rtstyle.errors import UserError
from rtstyle.stylizer import Stylizer, model_key

FRAME = np.zeros((10, 12, 3), np.uint8)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "link/secret.bin"])
def test_external_data_outside_the_model_folder_is_refused_on_any_onnxruntime(tmp_path, location):
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\x7f")
    os.symlink(tmp_path, folder / "link")  # a link out of the folder
    model = external_data_model(folder / "crafted.onnx", location)
    with pytest.raises(UserError, match=f"refers to weights outside its folder \\('{location}'\\)"):
        Stylizer(model, provider="cpu")


def test_external_data_inside_the_model_folder_loads(tmp_path):
    (tmp_path / "weights").mkdir()
    model = external_data_model(tmp_path / "model.onnx", "weights/floor.bin")
    assert Stylizer(model, provider="cpu")(FRAME).shape == FRAME.shape


def test_a_file_over_protobufs_limit_is_refused_before_anything_reads_it(tmp_path):
    sparse = tmp_path / "huge.onnx"
    with open(sparse, "wb") as f:
        f.truncate(4 << 30)  # 4 GB of holes: reading it would take 4 GB of memory
    with pytest.raises(UserError, match=r"huge.onnx is 4.3 GB: not an ONNX model"):
        Stylizer(sparse, provider="cpu")


def test_the_engine_cache_key_is_hashed_in_a_stream(tiny_model, monkeypatch):
    expected = "rtstyle_" + hashlib.sha256(tiny_model.read_bytes()).hexdigest()[:16]
    monkeypatch.setattr(type(tiny_model), "read_bytes", lambda self: pytest.fail("read whole"))
    assert model_key(tiny_model) == expected


def test_a_run_time_failure_is_a_user_error_naming_the_frame(tmp_path):
    stylizer = Stylizer(fixed_size_model(tmp_path / "fixed.onnx", side=8), provider="cpu")
    assert stylizer(np.zeros((8, 8, 3), np.uint8)).shape == (8, 8, 3)
    with pytest.raises(UserError, match=r"fixed.onnx failed on a 12x10 frame: .*cannot be reshaped"):
        stylizer(FRAME)


def test_an_output_that_is_not_frames_is_refused(tmp_path):
    with pytest.raises(UserError, match="not an rtstyle style model"):
        Stylizer(flat_output_model(tmp_path / "flat.onnx"), provider="cpu")


def test_tiling_a_model_without_instance_norm_is_a_user_error(tmp_path, monkeypatch):
    from rtstyle.tiling import TiledStylizer

    monkeypatch.setenv("RTSTYLE_MAX_NETWORK_GB", "0.000001")
    tiled = TiledStylizer(Stylizer(identity_model(tmp_path / "plain.onnx"), provider="cpu"), always_whole=16)
    with pytest.raises(UserError, match="has no instance normalization, so a picture over its memory budget cannot run in tiles"):
        tiled(FRAME)
