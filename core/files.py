"""Opening a file the person named, safely: only regular files, never blocking, never a traceback.

Every path the app reads comes from a person, a config or a server, so it may be a FIFO (opening
it blocks forever), a device (`/dev/zero` never ends), a folder, a name too long for the file
system, `~nosuchuser`, or a file that changes while it is read. This module is the one place that
turns each of those into a typed error with a plain message: files are opened non-blocking and
checked to be regular files *before* a single byte is read, and reads are bounded and see EOF.

Every read error after a successful open (EIO from a failing disk or `/proc/self/mem`, EINVAL from
many `/sys` files) is typed too (`read_some`), and so are the ways a folder fails (no read or search
permission: `folder_names`), a loop of links or a NUL in a path (`real_path`, `lexists`), and a write
that finds no room (ENOSPC, EDQUOT, EFBIG: `disk_full_error`, never "close programs to free memory").
tests/test_doors.py fails on any file read outside this module (its allowances say why each is one).

Portable: every positional read goes through `read_at`, which is `os.pread` where the OS has it
(Linux, macOS) and a seek + read under a lock elsewhere (Windows has no pread; Python's `os` module
documents pread as "Availability: Unix"). O_NONBLOCK and O_NOCTTY exist only on POSIX and O_BINARY
only on Windows, so each is added only where it exists; on Windows `os.stat` reports a named pipe
as S_IFIFO and a device such as NUL or CON as S_IFCHR, so the regular-file check refuses them there
too, before they are opened.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from core.errors import OutOfSpaceError, QuantDoctorError

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_APPEND_FLAGS = (
    os.O_WRONLY | os.O_APPEND | os.O_CREAT
    | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
)  # fmt: skip


# One lock for every seek + read pair on a platform without pread: the fds are our own (open_regular),
# but two threads reading one fd must not move its offset under each other.
_SEEK_LOCK = threading.Lock()


def seek_read(fd: int, n: int, offset: int) -> bytes:
    """Up to `n` bytes at `offset` with lseek + read under a lock: pread's answer where there is no pread."""
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)


if sys.platform == "win32":
    read_at = seek_read
else:

    def read_at(fd: int, n: int, offset: int) -> bytes:
        """Up to `n` bytes at `offset` without moving the fd's offset (os.pread)."""
        return os.pread(fd, n, offset)


def read_some(fd: int, n: int, offset: int, path: Path, what: str, error: type[QuantDoctorError]) -> bytes:
    """Up to `n` bytes at `offset` (read_at) with a read error as `error`, never a bare OSError."""
    try:
        return read_at(fd, n, offset)
    except OSError as exc:
        raise _read_error(path, exc, what, error) from exc


def user_path(text: str | os.PathLike[str], error: type[QuantDoctorError] = QuantDoctorError) -> Path:
    """`~` expanded, with `~nosuchuser` (and a missing home folder) as a plain error."""
    p = Path(text)
    try:
        return p.expanduser()
    except RuntimeError as exc:  # pathlib's way of saying the user or home folder is unknown
        raise error(
            f"{str(text)[:200]}: there is no user or home folder by that name.",
            "Write the full path instead of one starting with ~.",
        ) from exc


def _describe(p: Path) -> str:
    name = str(p)
    return name if len(name) <= 200 else name[:100] + "…" + name[-60:]


def _os_error(p: Path, exc: OSError, what: str, error: type[QuantDoctorError]) -> QuantDoctorError:
    shown = _describe(p)
    if exc.errno in _DISK_FULL:
        return disk_full_error(p, exc)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return error(f"{shown} does not exist.", "Check the path and pick the file again.")
    if exc.errno == errno.EISDIR:
        return error(f"{shown} is a folder, not {what}.", f"Pick {what} inside it.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return error(
            f"Quant Doctor may not read {shown}.", "Check the file's permissions, or copy it somewhere readable."
        )
    if exc.errno == errno.ENAMETOOLONG:
        return error(f"The path {shown} is too long for this system.", "Move the file to a folder with a shorter path.")
    if exc.errno == errno.ELOOP:
        return error(f"{shown} is a symbolic link that points to itself.", "Pick the real file.")
    return error(f"{shown} could not be opened ({exc.strerror or exc}).", "Check the path and try again.")


# A full disk, a full quota, and a file over the size limit this process may write (RLIMIT_FSIZE):
# in each, nothing more can be written there until space is freed, which is what the person must hear.
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, *([errno.EDQUOT] if hasattr(errno, "EDQUOT") else [])}


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means "no room to write": ENOSPC, EDQUOT (quota) or EFBIG (file size limit)."""
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def disk_full_error(
    path: str | os.PathLike[str], exc: OSError, error: type[QuantDoctorError] = OutOfSpaceError
) -> QuantDoctorError:
    """The plain error for a write that found no room, naming the folder (never "free memory")."""
    folder = _describe(Path(path).parent)
    fix = "Free some disk space there (or point QUANTDOCTOR_CACHE_DIR at a disk with room), then try again."
    if exc.errno == errno.EFBIG:
        said = f"the file in {folder} reached the largest size this system lets Quant Doctor write"
        fix = "Raise the file size limit (`ulimit -f unlimited` where Quant Doctor is started), then try again."
    elif exc.errno == getattr(errno, "EDQUOT", None):
        said = f"your disk quota on {folder} is used up"
    else:
        said = f"the disk holding {folder} is full"
    return error(f"Nothing more could be written: {said}. What was half-written has been removed.", fix)


def _read_error(p: Path, exc: OSError, what: str, error: type[QuantDoctorError]) -> QuantDoctorError:
    """A read that failed after a successful open: EIO (a failing disk, /proc/self/mem), EINVAL (many
    /sys files), EISDIR, a vanished network share... always a typed error, never a traceback."""
    return error(
        f"{_describe(p)} was opened but could not be read ({exc.strerror or exc}); it is not {what}"
        " Quant Doctor can read.",
        f"Pick {what} on an ordinary disk (not a system file such as /proc or /sys), or copy it there first.",
    )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def stat_path(
    path: str | os.PathLike[str], what: str = "a file", error: type[QuantDoctorError] = QuantDoctorError
) -> os.stat_result:
    """os.stat with every failure (missing, too long, no permission, a NUL byte) as a plain error."""
    p = Path(path)
    try:
        return os.stat(p)
    except OSError as exc:
        raise _os_error(p, exc, what, error) from exc
    except ValueError as exc:  # a NUL byte in the path
        raise error(f"{_describe(p)!r} is not a valid path.", "Check the path and pick the file again.") from exc


def folder_names(
    path: str | os.PathLike[str], what: str = "a folder", error: type[QuantDoctorError] = QuantDoctorError
) -> list[str]:
    """The sorted names in a folder, or a typed error: it is missing, not a folder, may not be listed
    (no read permission) or may not be entered (no search permission: its files could be named but
    not opened, which would fail later and less plainly)."""
    p = Path(path)
    try:
        names = sorted(os.listdir(p))
        os.stat(os.path.join(p, "."))  # looking anything up inside needs search (x) permission
    except OSError as exc:
        raise _os_error(p, exc, what, error) from exc
    except ValueError as exc:  # a NUL byte in the path
        raise error(f"{_describe(p)!r} is not a valid path.", "Check the path and pick the folder again.") from exc
    return names


def real_path(path: str | os.PathLike[str], error: type[QuantDoctorError] = QuantDoctorError) -> Path:
    """`Path.resolve()` with its failures typed: a loop of links (RuntimeError before Python 3.13), a
    NUL byte (ValueError), a component that may not be looked at (OSError)."""
    p = Path(path)
    try:
        return p.resolve()
    except RuntimeError as exc:
        raise error(
            f"{_describe(p)} is a loop of symbolic links that never reaches a file.", "Pick the real file."
        ) from exc
    except ValueError as exc:
        raise error(f"{_describe(p)!r} is not a valid path (it holds a NUL character).", "Check the name.") from exc
    except OSError as exc:
        raise _os_error(p, exc, "a file", error) from exc


def lexists(path: str | os.PathLike[str], error: type[QuantDoctorError] = QuantDoctorError) -> bool:
    """Whether anything (a link included) is at `path`; a path that cannot be looked at is a typed
    error, not "absent" (os.path.lexists says False for a folder without search permission)."""
    p = Path(path)
    try:
        os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise _os_error(p, exc, "a file", error) from exc
    except ValueError as exc:
        raise error(f"{_describe(p)!r} is not a valid path.", "Check the path and pick the file again.") from exc
    return True


def open_regular_fd(
    path: str | os.PathLike[str], what: str = "a file", error: type[QuantDoctorError] = QuantDoctorError
) -> int:
    """An fd of a regular file opened read-only and non-blocking, or a typed error. Caller closes it.

    A FIFO opened non-blocking for reading returns at once (no writer needed), so the check after
    opening never hangs; a FIFO opened any other way would wait for a writer forever.
    """
    p = Path(path)
    st = stat_path(p, what, error)
    if not stat.S_ISREG(st.st_mode):
        # Refuse before opening: opening a device or a pipe can itself have effects.
        kind = _kind(st.st_mode)
        fix = f"Pick {what} inside it." if kind == "a folder" else f"Pick {what} (a regular file)."
        raise error(f"{_describe(p)} is {kind}, not {what}.", fix)
    try:
        fd = os.open(p, _OPEN_FLAGS)
    except OSError as exc:
        raise _os_error(p, exc, what, error) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # swapped between the two looks
        os.close(fd)
        raise error(f"{_describe(p)} is {_kind(st.st_mode)}, not {what}.", f"Pick {what} (a regular file).")
    return fd


@contextmanager
def open_regular(
    path: str | os.PathLike[str], what: str = "a file", error: type[QuantDoctorError] = QuantDoctorError
) -> Iterator[int]:
    """`with open_regular(p) as fd:` — `open_regular_fd` that closes the fd afterwards."""
    fd = open_regular_fd(path, what, error)
    try:
        yield fd
    finally:
        os.close(fd)


def pread_exact(fd: int, n: int, offset: int, path: Path, error: type[QuantDoctorError]) -> bytes:
    """Exactly `n` bytes at `offset`, or a plain error when the file ended early (it changed underneath)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = read_some(fd, min(n - got, 1 << 24), offset + got, path, "a file", error)
        if not chunk:
            raise error(
                f"{path.name} changed while it was read (it is now shorter than when it was opened).",
                "Wait until the file is completely downloaded or copied, then open it again.",
            )
        parts.append(chunk)
        got += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_limited(
    path: str | os.PathLike[str],
    limit: int,
    what: str = "a file",
    error: type[QuantDoctorError] = QuantDoctorError,
) -> bytes:
    """The whole of a regular file of at most `limit` bytes; a bigger one is refused before reading."""
    p = Path(path)
    with open_regular(p, what, error) as fd:
        size = os.fstat(fd).st_size
        if size > limit:
            raise error(
                f"{p.name} is {size:,} bytes; {what} is never that big, so this is not one.",
                f"Pick {what}, or replace {p.name} with a fresh copy.",
            )
        data = b""
        while len(data) <= limit:  # a file growing under us stops at the limit, never reads on forever
            chunk = read_some(fd, limit + 1 - len(data), len(data), p, what, error)
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise error(f"{p.name} grew past {limit:,} bytes while it was read.", "Open it again once it is complete.")
        return data


def read_head(
    path: str | os.PathLike[str], n: int, what: str = "a file", error: type[QuantDoctorError] = QuantDoctorError
) -> bytes:
    """The first `n` bytes (or fewer) of a regular file: for inputs of which only a prefix is kept."""
    p = user_path(path, error)
    with open_regular(p, what, error) as fd:
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = read_some(fd, n - got, got, p, what, error)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)


def iter_chunks(
    path: str | os.PathLike[str], chunk: int = 1 << 22, what: str = "a file", error: type[QuantDoctorError] = QuantDoctorError
) -> Iterator[bytes]:
    """A regular file's bytes in blocks of at most `chunk` (hashing, copying): never the whole file at once."""
    p = user_path(path, error)
    with open_regular(p, what, error) as fd:
        offset = 0
        while block := read_some(fd, chunk, offset, p, what, error):
            offset += len(block)
            yield block


def read_text_limited(
    path: str | os.PathLike[str],
    limit: int,
    what: str = "a text file",
    error: type[QuantDoctorError] = QuantDoctorError,
) -> str:
    """`read_limited` decoded as UTF-8; a binary file is a plain error."""
    data = read_limited(path, limit, what, error)
    if b"\0" in data:
        raise error(f"{Path(path).name} is a binary file, not {what}.", f"Pick {what}.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{Path(path).name} is not UTF-8 text, so it is not {what}.", f"Pick {what}.") from exc


def write_text_file(
    path: str | os.PathLike[str], text: str, what: str = "the file", error: type[QuantDoctorError] = QuantDoctorError
) -> Path:
    """Write `text` to a regular file at `path`, atomically (a temporary name, then a rename).

    An existing FIFO, device or folder at `path` is refused instead of opened (opening a FIFO for
    writing waits for a reader forever), and a write that fails leaves no half file behind.
    """
    p = user_path(path, error)
    _not_regular_here(p, what, error)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if is_disk_full(exc):
            raise disk_full_error(p, exc) from exc
        raise error(
            f"{what[:1].upper()}{what[1:]} could not be written to {_describe(p)} ({exc.strerror or exc}).",
            "Pick a folder that exists and that you may write to.",
        ) from exc
    return p


def _not_regular_here(p: Path, what: str, error: type[QuantDoctorError]) -> None:
    """Refuse a FIFO, device or folder already at `p` before anything is written there."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_error(p, exc, what, error) from exc
    except ValueError as exc:  # a NUL byte in the path
        raise error(f"{_describe(p)!r} is not a valid path.", "Pick another file name.") from exc
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{_describe(p)} is {_kind(st.st_mode)}; {what} is not written there.", "Pick another file name.")


@contextmanager
def open_append(
    path: str | os.PathLike[str], what: str = "the file", error: type[QuantDoctorError] = QuantDoctorError
) -> Iterator[BinaryIO]:
    """`with open_append(p) as out:` a regular file opened to add bytes at its end (a resumable
    download's `.part`), made when absent.

    What is at `path` is looked at before it is opened and again after: a FIFO, a device or a folder is
    refused (opened to write, a FIFO waits for a reader forever; opened non-blocking, as here, it fails
    at once instead), and a failed open is a typed error like every other here. The writes are the
    caller's: one that finds no room raises the OSError that `is_disk_full` recognises, so the caller
    decides what of the part is kept.
    """
    p = Path(path)
    _not_regular_here(p, what, error)
    try:
        fd = os.open(p, _APPEND_FLAGS, 0o644)
    except OSError as exc:
        raise _os_error(p, exc, what, error) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # swapped between the two looks
        os.close(fd)
        raise error(f"{_describe(p)} is {_kind(st.st_mode)}; {what} is not written there.", "Pick another file name.")
    with os.fdopen(fd, "ab") as out:
        yield out
