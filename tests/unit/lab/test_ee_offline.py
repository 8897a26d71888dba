"""`make ee`'s offline definition (tests/lab/ee.py), checked with ansible-builder create: no container, no network."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.lab import ee
from tests.support.galaxy import build_collection, galaxy_env, tool


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ansible-builder create` of the offline definition, with a freshly built collection tarball."""
    work = tmp_path_factory.mktemp("ee-offline")
    (work / "dist").mkdir()
    tarball = build_collection(work / "dist", galaxy_env(work))
    definition = ee.offline_definition("localhost/pv2hvm-ee-base:test", ee.stage_offline_collections(work / "collections"))
    definition["additional_build_files"][0]["src"] = str(tarball)
    definition_file = work / "execution-environment.yml"
    definition_file.write_text(yaml.safe_dump(definition), encoding="utf-8")
    # Without a runtime, ansible-builder names the file by what is installed (podman: Containerfile, a
    # fresh machine's docker: Dockerfile); make ee builds with podman, which reads Containerfile.
    result = tool("ansible-builder", "create", "-f", str(definition_file), "--context", str(work / "context"),
                  "--output-filename", "Containerfile", env=galaxy_env(work))
    assert result.returncode == 0, result.stdout + result.stderr
    return work / "context"


def test_offline_definition_changes_only_the_base_runner_and_build_options() -> None:
    upstream = yaml.safe_load(ee.DEFINITION.read_text(encoding="utf-8"))
    offline = ee.offline_definition("localhost/base:x", Path("/nowhere"))
    assert offline["images"]["base_image"]["name"] == "localhost/base:x"
    assert upstream["images"]["base_image"]["name"].startswith("quay.io/ansible/awx-ee:")  # users keep awx-ee
    assert offline["dependencies"]["galaxy"] == upstream["dependencies"]["galaxy"]
    assert offline["dependencies"]["ansible_core"] == upstream["dependencies"]["ansible_core"]
    assert offline["dependencies"]["ansible_runner"]["package_pip"].startswith("ansible-runner==")
    assert offline["options"] == {"package_manager_path": ee.PKGMGR_IN_IMAGE, "skip_pip_install": True}
    assert Path(offline["additional_build_files"][0]["src"]).is_absolute()


def test_containerfile_installs_offline_with_apt_and_no_ensurepip(context: Path) -> None:
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert 'ARG EE_BASE_IMAGE="localhost/pv2hvm-ee-base:test"' in containerfile
    assert f'ARG PKGMGR="{ee.PKGMGR_IN_IMAGE}"' in containerfile
    assert 'ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="--offline"' in containerfile
    assert "RUN /output/scripts/pip_install" not in containerfile
    copy = f"COPY _build/offline/ansible_collections {ee.IMAGE_COLLECTIONS}"
    assert containerfile.index(copy) < containerfile.index("ansible-galaxy collection install")


def test_context_holds_the_collections_galaxy_cannot_download(context: Path) -> None:
    for name in ee.OFFLINE_COLLECTIONS:
        assert (context / "_build" / "offline" / "ansible_collections" / name / "MANIFEST.json").is_file()
    assert not list((context / "_build" / "offline").rglob("__pycache__"))
    assert list((context / "_build" / "collections").glob("cloudops-pv2hvm-*.tar.gz"))


def run_pkgmgr(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """ee/pkgmgr-apt with an apt-get on PATH that records its arguments."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "apt-get"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n', encoding="utf-8")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake.parent}:{os.environ['PATH']}")
    result = subprocess.run([str(ee.PKGMGR), *args], env=env, capture_output=True, text=True, check=False)
    return result, calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def test_pkgmgr_maps_dnf_install_to_apt_get(tmp_path: Path) -> None:
    result, calls = run_pkgmgr(tmp_path, "install", "-y", "--nodocs", "rsync", "openssl")
    assert result.returncode == 0, result.stderr
    assert calls == ["update -qq", "install -y -qq --no-install-recommends rsync openssl"]
    assert "ignoring dnf option --nodocs" in result.stderr


def test_pkgmgr_install_of_nothing_does_nothing(tmp_path: Path) -> None:
    result, calls = run_pkgmgr(tmp_path, "install", "-y")
    assert result.returncode == 0 and calls == []


def test_pkgmgr_refuses_other_commands(tmp_path: Path) -> None:
    result, calls = run_pkgmgr(tmp_path, "upgrade")
    assert result.returncode == 2 and calls == []
    assert "unsupported command 'upgrade'" in result.stderr
