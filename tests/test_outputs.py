import pytest

from rtstyle.outputs import atomic_output


@pytest.mark.parametrize("keep_partial", [False, True])
def test_ctrl_c_keeps_a_partial_file_only_when_asked(tmp_path, keep_partial):
    out = tmp_path / "out.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(out, keep_partial=keep_partial) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert out.exists() == keep_partial
    assert [p.name for p in tmp_path.iterdir()] == (["out.bin"] if keep_partial else [])


def test_an_error_leaves_the_old_file_alone(tmp_path):
    out = tmp_path / "out.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(out, keep_partial=True) as tmp:
            tmp.write_bytes(b"new")
            raise RuntimeError("boom")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_write_error_names_a_full_disk(tmp_path):
    import errno

    from rtstyle.outputs import write_error

    err = write_error(tmp_path / "out.mp4", OSError(errno.ENOSPC, "No space left on device"))
    assert str(err) == f"cannot write {tmp_path / 'out.mp4'}: No space left on device (the disk is full)"


def test_temporary_names_are_random_and_created_exclusively(tmp_path):
    out = tmp_path / "out.bin"
    with atomic_output(out) as first, atomic_output(out) as second:
        assert first != second and first.exists() and second.exists()
        assert first.name.startswith(".out.partial-") and first.suffix == ".bin"
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert out.read_bytes() == b"1"  # the first to finish is renamed last
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("keep_partial", [False, True])
def test_nothing_written_is_never_claimed(tmp_path, keep_partial):
    from rtstyle.errors import UserError

    out = tmp_path / "out.bin"
    with pytest.raises(UserError, match="nothing was written"):
        with atomic_output(out, keep_partial=keep_partial) as tmp:
            tmp.unlink()
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(out, keep_partial=keep_partial):
            raise KeyboardInterrupt  # before the writer wrote a byte
    assert list(tmp_path.iterdir()) == []
