"""Checks on input and output paths, and atomic writing: nothing the user had is overwritten half-way."""

from __future__ import annotations

import contextlib
import errno
import filecmp
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import InputError, OutputError, UsageError


def check_input(path: str | os.PathLike, what: str) -> Path:
    """Return `path` as an absolute Path if it is a readable, non-empty regular file; else raise InputError.

    `what` names the input in the message ("photo", "style image", "video").
    """
    if not os.fspath(path):  # Path("") is the current folder
        raise InputError(f"{what} name is empty")
    try:
        return _checked_input(Path(path).expanduser(), path, what)
    except OSError as error:  # e.g. a name longer than the file system takes (Path.exists raises it before 3.12)
        raise InputError(f"{what} '{path}' cannot be read: {error.strerror or error}") from None


def _checked_input(p: Path, path: str | os.PathLike, what: str) -> Path:
    if not p.exists():
        raise InputError(f"{what} '{path}' does not exist")
    if p.is_dir():
        raise InputError(f"{what} '{path}' is a folder, expected a file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} '{path}' cannot be read (permission denied)")
    if not p.is_file():  # a pipe or a device has no size to check, and is read more than once: it cannot work
        raise InputError(f"{what} '{path}' is not a regular file (a pipe or a device?): give a file")
    if p.stat().st_size == 0:
        raise InputError(f"{what} '{path}' is empty (0 bytes)")
    return p.resolve()


@contextlib.contextmanager
def opencv_name(path: Path) -> Iterator[str]:
    """A name under which OpenCV can open `path`, valid inside the `with`.

    OpenCV takes names as UTF-8 and crashes (SIGSEGV) on one that is not: a file name with bytes that are not UTF-8,
    which Python carries as lone surrogates (PEP 383). Such a file is reached through a symlink with a plain name in a
    temporary folder; whatever OpenCV opened stays open after the link is gone.
    """
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory(prefix="stylize-video-") as folder:
            suffix = path.suffix if path.suffix.isascii() else ""  # the format may be guessed from it
            link = Path(folder) / f"input{suffix}"
            link.symlink_to(path.resolve())
            yield str(link)
        return
    yield name


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if `a` and `b` name the same file: same spelling after resolving `./`, `..` and symlinks, or a hard link."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.resolve() == pb.resolve():
        return True
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return False


def same_bytes(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if the files `a` and `b` both exist and hold the same bytes."""
    try:
        return filecmp.cmp(Path(a).expanduser(), Path(b).expanduser(), shallow=False)
    except OSError:
        return False


def work_folder(output: str | os.PathLike) -> Path:
    """`<output folder>/.<output name>.frames` for an output path: a video run's work folder (checkpoints.py)."""
    out = Path(output)
    return out.parent / f".{out.name}.frames"


NETWORK = "network.pt"  # where a fast run's work folder keeps its trained network (checkpoints.py, fast/run.py)


# Bytes a name made beside an output adds to the output's own name: partial_file's ".<stem>.video.XXXXXXXX.partial
# <suffix>" (pipeline/video.py) is the longest; ".<name>.frames" (checkpoints.py) and the untagged partial_file are shorter.
TEMP_NAME_ROOM = 24


def _name_max(folder: Path) -> int:
    """The longest file name `folder`'s file system takes, in bytes (255 on most)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or the file system does not say
        return 255


def check_output(output: str | os.PathLike, inputs: list[str | os.PathLike], overwrite: bool = False) -> Path:
    """Validate the output path before any slow work; return it absolute.

    Refuses an output that is one of the inputs (UsageError), a folder, or whose folder is missing or not
    writable (OutputError), and an existing file unless `overwrite` (UsageError): a result takes minutes to hours
    to make, so a rerun of the same command must not silently replace the last one. With `overwrite` it is
    replaced only at the end, atomically. A name so long that the temporary files beside it would not fit is a
    UsageError too: found at the end, it would cost the whole run.
    """
    out = Path(output).expanduser()
    try:
        return _checked_output(out, output, inputs, overwrite)
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            raise UsageError(f"output '{output}' has a name too long for the file system") from None
        raise OutputError(f"output '{output}' cannot be written: {error.strerror or error}") from None


def _checked_output(out: Path, output: str | os.PathLike, inputs: list[str | os.PathLike], overwrite: bool) -> Path:
    folder = out.resolve().parent  # resolve() does not stat what is missing: safe before the checks below
    name_max = _name_max(folder)  # first: any look at a name longer than the file system takes raises OSError
    if len(os.fsencode(out.name)) + TEMP_NAME_ROOM > name_max:
        raise UsageError(f"output name '{out.name}' is too long: at most {name_max - TEMP_NAME_ROOM} bytes here, so "
                         "that the temporary files beside it fit")
    for inp in inputs:
        if same_file(out, inp):
            # inputs holds the photo or video, the styles and the --init image: the message names none of them wrongly
            raise UsageError(f"output '{output}' is '{inp}', which this run reads: choose another output path")
    if out.is_dir():
        raise OutputError(f"output '{output}' is a folder, expected a file name")
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"output folder '{folder}' {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder '{folder}' is not writable")
    try:  # os.access does not know every file system (/proc, read-only mounts for root): try it, nameless
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        raise OutputError(f"output folder '{folder}' is not writable") from None
    if not overwrite and os.path.lexists(out):  # lexists: a dangling symlink is the user's too
        raise UsageError(f"output '{output}' already exists: choose another name, or add --overwrite to replace it")
    return out.resolve()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same folder, same suffix); rename it onto `path` on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed and `path` is left untouched.
    Without `overwrite`, a file that appeared at `path` meanwhile is kept and OutputError raised.
    """
    target = Path(path)
    tmp = partial_file(target)
    # mkstemp makes the file 0600; the result should get the permissions any new file of the user gets.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        try:
            if overwrite:
                os.replace(tmp, target)
            else:
                _move_if_absent(tmp, target)
        except OSError as error:
            raise OutputError(f"could not move the result into place as '{target}': {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def partial_file(target: Path, tag: str = "", suffix: str | None = None) -> Path:
    """Create an empty temporary file beside `target`: ".<stem>.[<tag>.]XXXXXXXX.partial<suffix>", the suffix
    `target`'s unless given. The only maker of such names: remove_stale_partials matches them, and TEMP_NAME_ROOM
    bounds their length. OutputError if it cannot be created."""
    prefix = f".{target.stem}." + (f"{tag}." if tag else "")
    try:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=f".partial{target.suffix if suffix is None else suffix}",
                                    dir=target.parent)
    except OSError as error:
        raise OutputError(f"cannot create a temporary file beside '{target}': {error.strerror or error}") from None
    os.close(fd)
    return Path(name)


def remove_stale_partials(output: str | os.PathLike, tags: tuple[str, ...], suffixes: tuple[str, ...]) -> list[Path]:
    """Delete the temporary files a killed run (SIGKILL, power loss: no cleanup ran) left beside `output`: the
    partial_file names made for it, untagged or with one of `tags`, with its suffix or one of `suffixes`. For a run
    that continues that output (--resume), so none of them can still be in use. Returns what was removed."""
    out = Path(output)
    tag_group = "|".join(re.escape(f"{tag}.") for tag in tags)
    suffix_group = "|".join(re.escape(s) for s in dict.fromkeys((out.suffix, *suffixes)))
    pattern = re.compile(rf"\.{re.escape(out.stem)}\.({tag_group})?[a-z0-9_]{{8}}\.partial({suffix_group})")
    removed = []
    for entry in out.parent.iterdir():
        if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


def _move_if_absent(tmp: Path, target: Path) -> None:
    """Rename `tmp` to `target` unless `target` exists; a hard link makes the test and the move one step."""
    taken = OutputError(f"'{target}' was created by another program during the run; it was left as it is")
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise taken from None
    except OSError:  # a file system without hard links: test, then rename (a tiny window for a race)
        if os.path.lexists(target):
            raise taken from None
        os.replace(tmp, target)
        return
    tmp.unlink()
