"""Writing output files so that a failure leaves no half-written file behind.

==========================  ====================================================
``output_folder``           make or open a folder for outputs and check, before
                            any work, that a file can be written in it
``atomic_write``            write a file under a temporary name in its folder,
                            then rename it: a full disk or a kill leaves the
                            old file (or none), never a partial one
``save_image``              a Pillow image saved through ``atomic_write``
``default_mode``            the permissions a new file gets from the umask
``describe_os_error``       an ``OSError`` as one line that names its file
==========================  ====================================================

Temporaries are named ``.tmp-*`` in the target's own folder (a rename
across file systems would not be atomic), created by :func:`tempfile.mkstemp`
with mode 0600 and given the umask's mode before the rename, so finished
files have the permissions any other new file would have.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from .apl import DomainError

__all__ = ["output_folder", "atomic_write", "save_image", "default_mode",
           "describe_os_error", "TEMPORARY_PREFIX"]

TEMPORARY_PREFIX = ".tmp-"


def default_mode():
    """The mode ``open()`` gives a new file: ``0o666`` less the process's umask.

    >>> old = os.umask(0o022); mode = default_mode(); _ = os.umask(old)
    >>> oct(mode)
    '0o644'
    """
    try:    # Linux shows it; elsewhere it can only be read by setting it, for an instant
        with open("/proc/self/status") as status:
            mask = next(int(line.split()[1], 8) for line in status
                        if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0)
        os.umask(mask)
    return 0o666 & ~mask


def describe_os_error(err):
    """One line for an ``OSError``, naming its file when the error carries one.

    >>> describe_os_error(OSError(28, "No space left on device", "out/a_mask.png"))
    'out/a_mask.png: No space left on device'
    >>> describe_os_error(PermissionError(13, "Permission denied"))
    'Permission denied'
    """
    if err.filename is None:
        return err.strerror or str(err)
    names = f"{err.filename} -> {err.filename2}" if err.filename2 is not None else err.filename
    return f"{names}: {err.strerror or err}"


def _refuse_non_folder(path, what):
    """A DomainError if ``path`` or one of its parents is something other than a folder."""
    here = path
    while here and not os.path.exists(here):
        here = os.path.dirname(here)
    if here and not os.path.isdir(here):
        where = "it" if here == path else here
        raise DomainError(f"{what} {path}: {where} is a file, not a folder")


@contextlib.contextmanager
def output_folder(path, what="--out"):
    """A folder to write outputs to, checked for writing before any work is done.

    Creates ``path`` (and its parents) if needed and writes and removes a
    probe file in it, so a read-only or missing place fails at once, not
    after an epoch of training. Should the block raise, a folder made here
    and still empty is removed again: a refused command leaves nothing.

    Parameters
    ----------
    path : str or PathLike
    what : str
        How to name the folder in messages (the option that gave it).

    Raises
    ------
    DomainError
        ``path`` or a parent of it is a file.
    OSError
        The folder cannot be made or written (its ``filename`` is set).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as top:
    ...     with output_folder(os.path.join(top, "out")) as out:
    ...         print(os.listdir(out))
    []
    """
    path = os.fspath(path)
    _refuse_non_folder(path, what)
    created = not os.path.isdir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise OSError(err.errno, f"cannot make the folder ({err.strerror})", path) from None
    try:
        try:
            probe, probe_path = tempfile.mkstemp(dir=path, prefix=TEMPORARY_PREFIX)
        except OSError as err:
            raise OSError(err.errno, f"cannot write in this folder ({err.strerror})",
                          path) from None
        try:    # a byte, not an empty file: a full disk or a size limit shows at once
            os.write(probe, b"0")
        except OSError as err:
            raise OSError(err.errno, f"cannot write in this folder ({err.strerror})",
                          path) from None
        finally:
            os.close(probe)
            os.unlink(probe_path)
        yield path
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(path)    # only if still empty
        raise


def atomic_write(path, write, mode=None):
    """Write ``path`` by ``write(file)`` on a temporary file, then rename it to ``path``.

    On any failure (a full disk, an exception in ``write``, Ctrl-C) the
    temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or PathLike
    write : callable
        Receives the temporary file, open for binary writing.
    mode : int, optional
        Permissions of the finished file; by default :func:`default_mode`.

    Raises
    ------
    OSError
        Naming ``path`` (not the temporary name) as its ``filename``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as top:
    ...     target = os.path.join(top, "a.txt")
    ...     atomic_write(target, lambda f: f.write(b"done"))
    ...     print(open(target).read(), os.listdir(top))
    done ['a.txt']
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMPORARY_PREFIX,
                                   suffix=os.path.splitext(path)[1])
    except OSError as err:
        raise OSError(err.errno, f"cannot write ({err.strerror})", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename in (None, tmp):
            raise OSError(err.errno, f"cannot write ({err.strerror or err})", path) from None
        raise


def save_image(image, path):
    """Save a Pillow image as PNG through :func:`atomic_write`.

    >>> import tempfile
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as top:
    ...     save_image(Image.new("L", (3, 2)), os.path.join(top, "a.png"))
    ...     print(Image.open(os.path.join(top, "a.png")).size)
    (3, 2)
    """
    atomic_write(path, lambda f: image.save(f, format="PNG"))
