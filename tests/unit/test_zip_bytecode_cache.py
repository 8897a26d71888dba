"""The test venv's cache of bytecode imported from zips: the same code, compiled once, named after each run's zip."""

from __future__ import annotations

import importlib.util
import zipfile
import zipimport
from pathlib import Path
from typing import Any

import pytest

from tests.support import zip_bytecode_cache

SOURCE = b"def where():\n    return __file__, where.__code__.co_filename\n\nANSWER = 42\n"


def payload(directory: Path, source: bytes = SOURCE) -> Path:
    """A zip like an AnsiballZ payload: a new file name on every run, the same member inside."""
    directory.mkdir(parents=True)
    path = directory / "ansible_ping_payload.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ansible/module_utils/sample.py", source)
    return path


def load(path: Path) -> Any:
    spec = zipimport.zipimporter(str(path / "ansible" / "module_utils")).find_spec("sample")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setattr(zip_bytecode_cache, "_CACHE", str(directory))
    monkeypatch.setattr(zipimport, "_compile_source", zip_bytecode_cache._cached_compile)  # pylint: disable=protected-access
    return directory


def test_the_second_import_runs_the_cached_code_under_its_own_zips_name(cache: Path, tmp_path: Path) -> None:
    first = load(payload(tmp_path / "run1"))
    cached = list(cache.rglob("*"))
    assert [path for path in cached if path.is_file()], "the first import's bytecode is kept"
    second_zip = payload(tmp_path / "run2")
    (cache_file,) = [path for path in cached if path.is_file()]
    stamp = cache_file.stat().st_mtime_ns
    second = load(second_zip)
    assert cache_file.stat().st_mtime_ns == stamp, "read, not compiled and written again"
    assert second.ANSWER == first.ANSWER == 42
    file_name, code_name = second.where()
    assert code_name == file_name == str(second_zip / "ansible" / "module_utils" / "sample.py"), "tracebacks name this run's payload"


def test_a_changed_source_is_compiled_again(cache: Path, tmp_path: Path) -> None:
    load(payload(tmp_path / "run1"))
    changed = load(payload(tmp_path / "run2", SOURCE.replace(b"42", b"43")))
    assert changed.ANSWER == 43
    assert len([path for path in cache.rglob("*") if path.is_file()]) == 2
