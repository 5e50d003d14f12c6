import os

import pytest

from pipeline.errors import InputError, OutputError, UsageError
from pipeline.media.paths import (
    TEMP_NAME_ROOM,
    atomic_output,
    check_input,
    check_output,
    remove_stale_partials,
    same_file,
)


def test_same_file_through_dot_symlink_and_hard_link(tmp_path, monkeypatch):
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    (tmp_path / "sym.mp4").symlink_to(src)
    os.link(src, tmp_path / "hard.mp4")
    monkeypatch.chdir(tmp_path)
    for spelling in ("./in.mp4", "sym.mp4", "hard.mp4", f"../{tmp_path.name}/in.mp4"):
        assert same_file(spelling, src)
        with pytest.raises(UsageError, match="which this run reads"):
            check_output(spelling, [src])
    assert not same_file("other.mp4", src)
    assert src.read_bytes() == b"x"


def test_an_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"mine")
    with pytest.raises(UsageError, match="already exists"):
        check_output(out, [])
    assert check_output(out, [], overwrite=True) == out


def test_atomic_output_without_overwrite_keeps_a_file_that_appeared_meanwhile(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(OutputError, match="created by another program"):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(b"theirs")
    assert target.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["out.png"]
    target.unlink()
    with atomic_output(target, overwrite=False) as tmp:
        tmp.write_bytes(b"ours")
    assert target.read_bytes() == b"ours" and os.listdir(tmp_path) == ["out.png"]


def test_without_hard_links_a_file_that_appeared_is_still_kept(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # as on FAT or some network file systems
    target = tmp_path / "out.png"
    with atomic_output(target, overwrite=False) as tmp:
        tmp.write_bytes(b"ours")
    assert target.read_bytes() == b"ours"
    with pytest.raises(OutputError, match="created by another program"):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_bytes(b"new")
    assert target.read_bytes() == b"ours" and os.listdir(tmp_path) == ["out.png"]


def test_output_folder_checks(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nope" / "o.png", [])
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path, [])


def test_input_checks(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.jpg")  # a device like /dev/zero has no size either: it used to be called "empty"
    for path, message in ((tmp_path / "missing.jpg", "does not exist"), (tmp_path, "is a folder"),
                          (tmp_path / "empty.jpg", "is empty"), (tmp_path / "pipe.jpg", "not a regular file"),
                          ("/dev/zero", "not a regular file")):
        with pytest.raises(InputError, match=message):
            check_input(path, "photo")


def test_atomic_output_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.png"]
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.png"]


def test_atomic_output_gets_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "o.png") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644



def test_names_longer_than_the_file_system_takes_are_one_line_not_a_traceback(tmp_path):
    # Over 255 bytes, looking at the name at all raises OSError (File name too long): it was a traceback.
    long = "x" * 300
    with pytest.raises(UsageError, match="is too long: at most"):
        check_output(tmp_path / f"{long}.png", [])
    with pytest.raises(UsageError, match="too long for the file system"):
        check_output(tmp_path / long / "out.png", [])
    with pytest.raises(InputError, match=f"photo '.*{long}.jpg' (cannot be read: File name too long|does not exist)"):
        check_input(tmp_path / f"{long}.jpg", "photo")
    with pytest.raises(InputError, match="photo name is empty"):  # not the current folder
        check_input("", "photo")


def test_an_output_folder_that_is_a_file_or_takes_no_files_is_refused_before_the_work(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match="output folder '.*photo.jpg' is a file, not a folder"):
        check_output(tmp_path / "photo.jpg" / "out.png", [])
    if os.path.isdir("/proc/self"):  # /proc takes no new files, though os.access tells root it is writable
        with pytest.raises(OutputError, match="output folder '/proc' is not writable"):
            check_output("/proc/out.png", [])

def test_an_output_name_too_long_for_the_temporary_files_is_refused_before_the_work(tmp_path):
    # A 250-character name is legal, but the temporary files beside it are longer than the file system takes: the
    # run used to end, after all its work, in a traceback (File name too long).
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    with pytest.raises(UsageError, match="is too long: at most .* bytes here"):
        check_output(tmp_path / ("a" * (name_max - TEMP_NAME_ROOM - 3) + "é.mp4"), [])  # é: two bytes in UTF-8
    longest = tmp_path / ("a" * (name_max - TEMP_NAME_ROOM - 4) + ".mp4")
    assert check_output(longest, []) == longest
    # The longest temporary name (video.py's, for a video with sound) fits beside the longest output name.
    video_temp = tmp_path / f".{longest.stem}.video.{'x' * 8}.partial{longest.suffix}"
    video_temp.write_bytes(b"")
    with atomic_output(longest) as tmp:
        tmp.write_bytes(b"done")
    assert longest.read_bytes() == b"done"


def test_a_failed_move_into_place_is_an_output_error(tmp_path, monkeypatch):
    def refuse(*args):
        raise OSError(36, "File name too long")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError, match="could not move the result into place .*File name too long"):
        with atomic_output(tmp_path / "out.png") as tmp:
            tmp.write_bytes(b"done")
    assert os.listdir(tmp_path) == []


def test_remove_stale_partials_removes_only_a_killed_runs_temporaries(tmp_path):
    ours = [".out.k2_x9aqz.partial.mp4", ".out.video.ouxfi7g6.partial.mp4", ".out.video.a1b2c3d4.partial.mkv"]
    others = ["out.mp4", ".out.mp4.frames", ".out2.k2_x9aqz.partial.mp4", ".out.notes.partial.mp4",
              ".out.k2_x9aqz.partial.mov", "x.out.k2_x9aqz.partial.mp4"]
    for name in ours + others:
        (tmp_path / name).write_bytes(b"")
    removed = remove_stale_partials(tmp_path / "out.mp4", tags=("video",), suffixes=(".mkv",))
    assert sorted(p.name for p in removed) == sorted(ours)
    assert sorted(os.listdir(tmp_path)) == sorted(others)
