"""Bytecode of modules imported from zip files (Ansible's AnsiballZ payloads), cached by their source's hash.

Every Ansible module run imports some fifty `module_utils` files from its payload zip, and zipimport compiles
each from source every time: about 0.2 s of a 0.4 s module run on this machine kind, thousands of times a
suite. `make setup` installs this file into the test venv with a .pth line that imports it: the code that runs
is the same (compiled from the same source, its file names those of the run's own payload), only its
compilation is done once. PV2HVM_ZIP_BYTECODE_CACHE names the directory (default ~/.cache/pv2hvm/zip-bytecode);
an empty value turns the cache off.
"""

from __future__ import annotations

import os
import types
import zipimport

_DEFAULT = os.path.join(os.path.expanduser("~"), ".cache", "pv2hvm", "zip-bytecode")
_CACHE = os.environ.get("PV2HVM_ZIP_BYTECODE_CACHE", _DEFAULT)
_compile_source = zipimport._compile_source  # pylint: disable=protected-access


def _with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(_with_filename(const, filename) if isinstance(const, types.CodeType) else const for const in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _member(pathname: str) -> str:
    """The file's path inside its zip (the zip itself is a new temporary file on every module run)."""
    head, separator, member = pathname.partition(".zip" + os.sep)
    return member if separator else head


def _cached_compile(pathname: str, source: bytes) -> types.CodeType:
    # Imported here: every interpreter of the venv loads this file, most never import from a zip.
    import hashlib  # pylint: disable=import-outside-toplevel
    import importlib.util  # pylint: disable=import-outside-toplevel
    import marshal  # pylint: disable=import-outside-toplevel
    import tempfile  # pylint: disable=import-outside-toplevel

    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + _member(pathname).encode() + b"\0" + source).hexdigest()
    path = os.path.join(_CACHE, digest[:2], digest)
    try:
        with open(path, "rb") as cached:
            return _with_filename(marshal.loads(cached.read()), pathname)
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = _compile_source(pathname, source)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(handle, "wb") as out:
            out.write(marshal.dumps(code))
        os.replace(partial, path)
    except OSError:
        pass
    return code


if _CACHE:
    zipimport._compile_source = _cached_compile  # pylint: disable=protected-access
