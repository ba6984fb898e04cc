import numpy as np
import pytest

from media import make_clip, make_tone, pattern, read_video
from rtstyle.errors import UserError
from rtstyle.videoio import VideoStats, VideoWriter, probe_video, transform_video


def invert(frame):
    return 255 - frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4")


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def test_probe(clip):
    info = probe_video(clip)
    assert info == {
        "frames": 24, "fps": 12.0, "width": 96, "height": 64,
        "has_audio": True, "codec": "h264", "duration": pytest.approx(2.0, abs=0.05),
    }


def test_transform_keeps_frames_rate_size_and_audio(clip, tmp_path):
    out = tmp_path / "out.mp4"
    stats = transform_video(clip, out, invert, progress=False)

    assert isinstance(stats, VideoStats)
    assert (stats.frames, stats.fps, stats.width, stats.height) == (24, 12.0, 96, 64)
    assert stats.has_audio and not stats.interrupted
    assert stats.decode_ms > 0 and stats.process_ms > 0 and stats.encode_ms > 0 and stats.total_s > 0
    src, dst = read_video(clip), read_video(out)
    assert (dst["frames"], dst["fps"], dst["size"]) == (24, 12.0, (96, 64))
    assert dst["audio_codec"] == "aac"
    assert dst["audio_s"] == pytest.approx(src["audio_s"], abs=0.05)
    assert dst["times"] == pytest.approx(src["times"], abs=0.001)
    # The frames went through `process` (H.264 at crf 18 is close, not exact).
    assert np.abs((255 - src["first"]).astype(int) - dst["first"]).mean() < 6
    assert leftovers(tmp_path) == []


def test_progress_bar_goes_to_stderr(clip, tmp_path, capsys):
    transform_video(clip, tmp_path / "out.mp4", invert, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "24/24" in captured.err


def test_odd_size_is_kept_exactly(tmp_path):
    clip = make_clip(tmp_path / "odd.mp4", frames=6, size=(95, 63), audio=False)
    stats = transform_video(clip, tmp_path / "out.mp4", invert, progress=False)
    out = read_video(tmp_path / "out.mp4")
    assert (out["frames"], out["size"], out["audio_codec"]) == (6, (95, 63), None)
    assert not stats.has_audio


def test_max_side_processes_small_frames_and_keeps_the_size(clip, tmp_path):
    seen = set()

    def process(frame):
        seen.add(frame.shape)
        return 255 - frame

    transform_video(clip, tmp_path / "out.mp4", process, max_side=32, progress=False)
    assert seen == {(21, 32, 3)}
    out = read_video(tmp_path / "out.mp4")
    assert (out["frames"], out["size"]) == (24, (96, 64))


def test_audio_the_output_cannot_hold_is_reencoded_to_aac(tmp_path):
    clip = make_clip(tmp_path / "ulaw.mov", frames=12, audio_codec="pcm_mulaw")  # .mp4 cannot hold μ-law
    transform_video(clip, tmp_path / "out.mp4", invert, progress=False)
    out = read_video(tmp_path / "out.mp4")
    assert out["audio_codec"] == "aac" and out["audio_s"] == pytest.approx(1.0, abs=0.1)


def test_interrupt_keeps_a_playable_file_with_the_frames_done(clip, tmp_path):
    out = tmp_path / "out.mp4"
    calls = 0

    def process(frame):
        nonlocal calls
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt
        return 255 - frame

    with pytest.raises(KeyboardInterrupt) as caught:
        transform_video(clip, out, process, progress=False)
    assert caught.value.stats.interrupted and caught.value.stats.frames == 4
    assert read_video(out)["frames"] == 4
    assert leftovers(tmp_path) == []


def test_error_in_process_leaves_nothing(clip, tmp_path):
    def process(frame):
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError):
        transform_video(clip, tmp_path / "out.mp4", process, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_process_must_return_the_same_size(clip, tmp_path):
    with pytest.raises(ValueError, match="expected"):
        transform_video(clip, tmp_path / "out.mp4", lambda f: f[:32], progress=False)


def text_file(folder):
    path = folder / "notes.mp4"
    path.write_text("not a video\n")
    return path


def long_text_file(folder):
    """A few kB of text: FFmpeg's tty demuxer would play it as a video of its characters."""
    path = folder / "LICENSE.txt"
    path.write_text("Some licence text, line by line.\n" * 100)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such video file"),
    (text_file, "corrupt or not a video"),
    (long_text_file, r"not a video \(a text file\)"),
    (lambda d: make_tone(d / "tone.m4a"), "no video stream"),
])
def test_bad_input_is_a_user_error(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(UserError, match=message):
        probe_video(path)
    with pytest.raises(UserError, match=message):
        transform_video(path, tmp_path / "out.mp4", invert, progress=False)


@pytest.mark.parametrize("output, message", [
    (lambda clip, d: clip, "same file"),
    (lambda clip, d: d / "missing" / "out.mp4", "does not exist"),
    (lambda clip, d: d / "out.webm", "cannot hold H.264"),
    (lambda clip, d: d / "out.xyz", "unknown video type"),
])
def test_bad_output_is_a_user_error(clip, tmp_path, output, message):
    with pytest.raises(UserError, match=message):
        transform_video(clip, output(clip, tmp_path), invert, progress=False)
    assert leftovers(tmp_path) == []


def test_writer_roundtrip(tmp_path):
    frames = [pattern(i, 64, 48) for i in range(10)]
    with VideoWriter(tmp_path / "w.mp4", 10, 64, 48) as writer:
        for frame in frames:
            writer.write(frame)
    out = read_video(tmp_path / "w.mp4")
    assert (out["frames"], out["fps"], out["size"]) == (10, 10.0, (64, 48))
    assert np.abs(out["last"].astype(int) - frames[-1]).mean() < 6
    assert leftovers(tmp_path) == []


def test_writer_takes_timestamps_and_odd_sizes(tmp_path):
    with VideoWriter(tmp_path / "w.mkv", 30, 33, 17) as writer:
        for i in range(5):
            writer.write(pattern(i, 33, 17), time=i * 0.2)
    out = read_video(tmp_path / "w.mkv")
    assert (out["frames"], out["size"]) == (5, (33, 17))
    assert out["times"] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8], abs=0.002)


def test_writer_keeps_the_file_on_interrupt_and_drops_it_on_error(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(tmp_path / "kept.mp4", 10, 32, 32) as writer:
            for i in range(3):
                writer.write(pattern(i, 32, 32))
            raise KeyboardInterrupt
    assert read_video(tmp_path / "kept.mp4")["frames"] == 3

    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "dropped.mp4", 10, 32, 32) as writer:
            writer.write(pattern(0, 32, 32))
            raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.mp4"]
