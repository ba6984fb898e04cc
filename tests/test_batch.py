"""`rtstyle batch`: a local Ray with 2 workers over generated images and clips, reruns, bad files."""

import subprocess
import sys

import cv2
import pytest

from media import make_clip, pattern, read_video
from rtstyle.batch import RAY_MISSING, plan_jobs, plan_resources
from rtstyle.errors import UserError

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def run(*args, timeout=300):
    return subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def archive(tmp_path):
    """photo0.jpg, corrupt.png, clip.mp4 (with audio), trip/photo1.png, trip/clips/old.avi, notes.txt"""
    root = tmp_path / "archive"
    (root / "trip" / "clips").mkdir(parents=True)
    cv2.imwrite(str(root / "photo0.jpg"), pattern(1, 64, 48))
    cv2.imwrite(str(root / "trip" / "photo1.png"), pattern(2, 50, 38))
    (root / "corrupt.png").write_bytes(b"\x89PNG this is not an image")
    (root / "notes.txt").write_text("not media")
    make_clip(root / "clip.mp4", frames=12, size=(64, 48))
    make_clip(root / "trip" / "clips" / "old.avi", frames=8, size=(48, 32), audio=False)
    return root


def test_batch_on_local_ray_then_reruns_skip(archive, tiny_model, tmp_path):
    out = tmp_path / "styled"
    first = run("batch", archive, "-o", out, "-m", tiny_model, "--workers", 2)
    assert first.returncode == 2, first.stderr
    assert "Traceback" not in first.stderr
    assert f"failed: {archive / 'corrupt.png'}: cannot decode image" in first.stderr
    assert "done 4, skipped 0 (output exists), failed 1: 22 frames in" in first.stderr  # 2 photos + 12 + 8 frames
    assert "2 workers x 1 threads" in first.stderr
    assert first.stderr.rstrip().splitlines()[-1].startswith("rtstyle: error: 1 of 5 files failed")

    assert cv2.imread(str(out / "photo0.jpg")).shape == (48, 64, 3)
    assert cv2.imread(str(out / "trip" / "photo1.png")).shape == (38, 50, 3)
    clip = read_video(out / "clip.mp4")
    assert clip["frames"] == 12 and clip["size"] == (64, 48) and clip["audio_codec"] == "aac"
    assert read_video(out / "trip" / "clips" / "old.mp4")["frames"] == 8  # .avi becomes H.264 .mp4
    assert not (out / "corrupt.png").exists() and not (out / "notes.txt").exists()

    # A killed run leaves its temporary file; the rerun redoes only the missing output and removes it.
    (archive / "corrupt.png").unlink()
    (out / "trip" / "photo1.png").unlink()
    stale = out / "trip" / ".photo1.partial-99999.png"
    stale.write_bytes(b"half")
    before = (out / "clip.mp4").stat().st_mtime_ns
    second = run("batch", archive, "-o", out, "-m", tiny_model, "--workers", 2)
    assert second.returncode == 0, second.stderr
    assert "done 1, skipped 3 (output exists), failed 0: 1 frames in" in second.stderr
    assert (out / "trip" / "photo1.png").exists() and not stale.exists()
    assert (out / "clip.mp4").stat().st_mtime_ns == before

    third = run("batch", archive, "-o", out, "-m", tiny_model)
    assert third.returncode == 0 and "nothing to do: all 4 outputs exist" in third.stderr


def test_without_ray_one_line_names_the_extra(archive, tiny_model, tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None; from rtstyle.cli import main;"  # None: `import ray` raises ImportError
        f"sys.argv = ['rtstyle', 'batch', {str(archive)!r}, '-o', {str(tmp_path / 'o')!r}, '-m', {str(tiny_model)!r}]; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"rtstyle: error: {RAY_MISSING}\n"
    assert 'pip install "rtstyle[ray]"' in RAY_MISSING
    assert not (tmp_path / "o").exists()


def test_outputs_mirror_the_inputs(archive, tmp_path):
    out = tmp_path / "styled"
    jobs = plan_jobs([archive], out)
    assert {(j.input.relative_to(archive).as_posix(), j.output.relative_to(out).as_posix(), j.kind) for j in jobs} == {
        ("photo0.jpg", "photo0.jpg", "image"),
        ("corrupt.png", "corrupt.png", "image"),
        ("clip.mp4", "clip.mp4", "video"),
        ("trip/photo1.png", "trip/photo1.png", "image"),
        ("trip/clips/old.avi", "trip/clips/old.mp4", "video"),  # H.264 goes in .mp4, .mkv or .mov
    }
    assert [j.output for j in plan_jobs([archive / "trip" / "photo1.png"], out)] == [out / "photo1.png"]
    # An output folder inside the input folder is not read as input.
    inside = archive / "styled"
    inside.mkdir()
    cv2.imwrite(str(inside / "photo0.jpg"), pattern(0, 8, 8))
    assert len(plan_jobs([archive], inside)) == 5

    assert len(plan_jobs([archive / "clip.mp4", archive / "trip"], out)) == 3  # trip's files go in out/ itself
    with pytest.raises(UserError, match="would both be written to"):
        plan_jobs([archive / "photo0.jpg", inside], out)  # out/photo0.jpg twice
    with pytest.raises(UserError, match="is one of the inputs"):
        plan_jobs([archive], archive)
    with pytest.raises(UserError, match="no such file or folder"):
        plan_jobs([tmp_path / "missing"], out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no images or videos in"):
        plan_jobs([empty], out)


def test_workers_share_the_cores_and_gpus():
    one_per_gpu = plan_resources(None, cpus=32, gpus=4, largest_node_cpus=16)
    assert (one_per_gpu.workers, one_per_gpu.cpus, one_per_gpu.gpus, one_per_gpu.threads) == (4, 8, 1, 8)
    two_per_gpu = plan_resources(8, cpus=32, gpus=4, largest_node_cpus=16)
    assert (two_per_gpu.gpus, two_per_gpu.threads) == (0.5, 4)
    cpu_only = plan_resources(None, cpus=16, gpus=0, largest_node_cpus=16)
    assert (cpu_only.workers, cpu_only.threads, cpu_only.gpus) == (4, 4, 0)
    assert [plan_resources(None, cpus=n, gpus=0, largest_node_cpus=n).workers for n in (1, 2, 8, 12)] == [1, 2, 2, 3]
    assert plan_resources(1, cpus=64, gpus=0, largest_node_cpus=8).cpus == 8  # never more than a node has
