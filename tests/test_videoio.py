import cv2
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
        "frames": 24, "fps": 12.0, "width": 96, "height": 64, "rotation": 0,
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


def test_output_is_yuv420p_high_profile(clip, tmp_path):
    transform_video(clip, tmp_path / "out.mp4", invert, progress=False)
    out = read_video(tmp_path / "out.mp4")
    assert (out["pix_fmt"], out["profile"]) == ("yuv420p", "High")


def test_odd_size_is_padded_by_one_pixel_to_yuv420p(tmp_path):
    clip = make_clip(tmp_path / "odd.mp4", frames=6, size=(641, 479), audio=False)  # yuv444p in
    stats = transform_video(clip, tmp_path / "out.mp4", invert, progress=False)
    out = read_video(tmp_path / "out.mp4")
    assert (out["frames"], out["size"], out["pix_fmt"], out["audio_codec"]) == (6, (642, 480), "yuv420p", None)
    assert (stats.width, stats.height, stats.encoded_size) == (641, 479, (642, 480))
    assert not stats.has_audio
    expected = 255 - read_video(clip)["first"]
    assert np.abs(out["first"][:479, :641].astype(int) - expected).mean() < 6
    # The padding repeats the last column and row.
    assert np.abs(out["first"][:, 641].astype(int) - out["first"][:, 640]).mean() < 6
    assert np.abs(out["first"][479].astype(int) - out["first"][478]).mean() < 6


def test_even_size_is_not_padded(clip, tmp_path):
    assert transform_video(clip, tmp_path / "out.mp4", invert, progress=False).encoded_size is None


# The display matrix turns frames counter-clockwise (FFmpeg's convention): a phone held upright
# stores its landscape sensor frames with rotation -90 (ffprobe: "rotation of -90.00 degrees").
@pytest.mark.parametrize("rotation, turn", [
    (90, cv2.ROTATE_90_COUNTERCLOCKWISE),
    (-90, cv2.ROTATE_90_CLOCKWISE),
    (180, cv2.ROTATE_180),
])
def test_rotated_clip_is_stylized_upright_and_plays_upright(tmp_path, rotation, turn):
    clip = make_clip(tmp_path / "phone.mp4", frames=6, size=(96, 64), rotation=rotation)
    src = read_video(clip)
    assert {r % 360 for r in src["rotations"]} == {rotation % 360} and src["size"] == (96, 64)
    upright = cv2.rotate(src["first"], turn)
    info = probe_video(clip)
    assert (info["width"], info["height"], info["rotation"]) == (*upright.shape[1::-1], rotation % 360)

    seen = []

    def process(frame):
        seen.append(frame.copy())
        return 255 - frame

    stats = transform_video(clip, tmp_path / "out.mp4", process, progress=False)
    out = read_video(tmp_path / "out.mp4")
    assert (stats.width, stats.height, stats.rotation) == (*upright.shape[1::-1], rotation % 360)
    assert out["size"] == upright.shape[1::-1] and out["rotations"] == {0} and out["frames"] == 6
    assert np.array_equal(seen[0], upright)  # the network saw the picture as it is shown
    assert np.abs(out["first"].astype(int) - (255 - upright)).mean() < 6
    assert out["audio_s"] == pytest.approx(src["audio_s"], abs=0.05)


def test_max_side_processes_small_frames_and_keeps_the_size(clip, tmp_path):
    seen = set()

    def process(frame):
        seen.add(frame.shape)
        return 255 - frame

    transform_video(clip, tmp_path / "out.mp4", process, max_side=32, progress=False)
    assert seen == {(21, 32, 3)}
    out = read_video(tmp_path / "out.mp4")
    assert (out["frames"], out["size"]) == (24, (96, 64))


@pytest.mark.parametrize("codec, output, kept", [
    ("pcm_mulaw", "out.mp4", "aac"),  # .mp4 cannot hold μ-law
    ("pcm_s16le", "out.mp4", "aac"),  # FFmpeg muxes it, but browsers and QuickTime do not play it
    ("pcm_s16le", "out.mov", "pcm_s16le"),  # QuickTime's own
    ("pcm_s16le", "out.mkv", "pcm_s16le"),
])
def test_audio_the_output_cannot_hold_or_play_is_reencoded_to_aac(tmp_path, codec, output, kept):
    clip = make_clip(tmp_path / "pcm.mov", frames=12, audio_codec=codec)
    stats = transform_video(clip, tmp_path / output, invert, progress=False)
    out = read_video(tmp_path / output)
    assert out["audio_codec"] == kept and out["audio_s"] == pytest.approx(1.0, abs=0.1)
    assert stats.audio == (f"{codec} copied" if kept == codec else f"{codec} re-encoded to aac")


def test_variable_frame_rate_keeps_every_timestamp_and_the_audio(tmp_path):
    times = [0.0, 0.05, 0.1, 0.3, 0.35, 0.9, 1.0, 1.033, 1.5, 1.52, 2.0]  # a phone's pauses and bursts
    clip = make_clip(tmp_path / "vfr.mp4", size=(96, 64), times=times)
    src = read_video(clip)
    assert src["times"] == pytest.approx(times, abs=0.001)
    transform_video(clip, tmp_path / "out.mp4", invert, progress=False)
    out = read_video(tmp_path / "out.mp4")
    assert out["times"] == pytest.approx(times, abs=0.001)
    assert out["audio_s"] == pytest.approx(src["audio_s"], abs=0.05)


@pytest.mark.parametrize("hdr", [False, True])
def test_10_bit_and_hdr_input_decodes(tmp_path, hdr):
    clip = make_clip(tmp_path / "10bit.mp4", frames=6, pix_fmt="yuv420p10le", hdr=hdr)
    src = read_video(clip)
    assert src["pix_fmt"] == "yuv420p10le"
    transform_video(clip, tmp_path / "out.mp4", invert, progress=False)
    out = read_video(tmp_path / "out.mp4")
    assert (out["frames"], out["pix_fmt"]) == (6, "yuv420p")
    assert np.abs((255 - src["first"]).astype(int) - out["first"]).mean() < 6


def test_overlap_off_writes_the_same_video(clip, tmp_path):
    threaded = transform_video(clip, tmp_path / "a.mp4", invert, progress=False)
    inline = transform_video(clip, tmp_path / "b.mp4", invert, progress=False, overlap=False)
    a, b = read_video(tmp_path / "a.mp4"), read_video(tmp_path / "b.mp4")
    assert threaded.frames == inline.frames == 24
    assert a["times"] == b["times"] and np.array_equal(a["last"], b["last"])


def test_a_corrupt_middle_is_a_user_error_and_leaves_nothing(clip, tmp_path):
    data = bytearray(clip.read_bytes())
    data[len(data) // 3 :] = bytes(len(data) - len(data) // 3)  # zeros from a third of the way on
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    try:
        transform_video(broken, tmp_path / "out.mp4", invert, progress=False)
    except UserError:
        pass
    else:  # FFmpeg may also conceal the damage and decode what it can; either way, no leftovers
        assert read_video(tmp_path / "out.mp4")["frames"] >= 1
    assert leftovers(tmp_path) == []


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
    (lambda clip, d: d / "out.webm", r"unknown video type '\.webm'"),
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
    assert writer.encoded_size == (34, 18)
    out = read_video(tmp_path / "w.mkv")
    assert (out["frames"], out["size"], out["pix_fmt"]) == (5, (34, 18), "yuv420p")
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


def test_a_stop_before_the_first_frame_keeps_nothing(clip, tmp_path):
    """An interrupt after some audio but before a video frame: no frameless "partial" file."""
    from rtstyle.videoio import open_input

    container, _ = open_input(clip)
    with container, pytest.raises(KeyboardInterrupt):
        with VideoWriter(tmp_path / "none.mp4", 10, 96, 64) as writer:
            track = writer._add_audio(container.streams.audio[0])
            for packet in container.demux(container.streams.audio[0]):
                track.push(packet)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_flicker_compares_a_phone_clip_with_its_upright_padded_output(tmp_path):
    from rtstyle.temporal import flicker_report

    clip = make_clip(tmp_path / "phone.mp4", frames=6, size=(97, 64), rotation=-90, audio=False)
    out = tmp_path / "out.mp4"
    stats = transform_video(clip, out, lambda f: f.copy(), progress=False)
    assert (stats.width, stats.height, stats.encoded_size) == (64, 97, (64, 98))
    report = flicker_report(clip, out)
    assert report["pairs"] == 5
    assert report["warping_error"] == pytest.approx(report["input_floor"], rel=0.5)


def test_the_pixel_limit_applies_to_every_video_from_its_header(clip, tmp_path, monkeypatch):
    still = tmp_path / "still.png"  # FFmpeg reads a PNG as a one-frame video
    cv2.imwrite(str(still), pattern(0, 200, 100))
    monkeypatch.setenv("RTSTYLE_MAX_MEGAPIXELS", "0.005")
    for source, claim in ((clip, r"96x64 \(0\.00614"), (still, r"200x100 \(0\.02")):
        with pytest.raises(UserError, match=claim + r" megapixels\), over the limit of 0\.005; .*RTSTYLE_MAX_MEGAPIXELS"):
            transform_video(source, tmp_path / "out.mp4", invert, progress=False)
    assert leftovers(tmp_path) == [] and not (tmp_path / "out.mp4").exists()


def test_the_decoder_itself_is_capped(clip, monkeypatch):
    from rtstyle.videoio import open_input

    container, video = open_input(clip)
    with container:
        assert video.codec_context.options["max_pixels"] == str(100_000_000)


def test_a_video_of_which_no_frame_decodes_writes_nothing(tmp_path):
    from media import make_frameless_clip

    source = make_frameless_clip(tmp_path / "empty.mkv")
    with pytest.raises(UserError, match="no frame of .* could be decoded; nothing written"):
        transform_video(source, tmp_path / "out.mp4", invert, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mkv"]


def test_undecodable_frames_are_counted_and_strict_refuses_them(tmp_path):
    from media import damage_clip

    source = damage_clip(make_clip(tmp_path / "clean.mp4", frames=30, audio=False), tmp_path / "damaged.mp4", range(10, 13))
    stats = transform_video(source, tmp_path / "out.mp4", invert, progress=False)
    assert (stats.frames, stats.undecodable) == (27, 3)
    assert transform_video(tmp_path / "clean.mp4", tmp_path / "clean_out.mp4", invert, progress=False).undecodable == 0
    with pytest.raises(UserError, match="cannot decode video"):
        transform_video(source, tmp_path / "strict.mp4", invert, progress=False, strict=True)
    assert not (tmp_path / "strict.mp4").exists() and leftovers(tmp_path) == []


def test_an_output_the_writer_cannot_make_is_refused_before_any_work(tmp_path):
    with pytest.raises(UserError, match=r"unknown video type '\.avi'"):
        transform_video(tmp_path / "missing.mp4", tmp_path / "out.avi", invert, progress=False)
