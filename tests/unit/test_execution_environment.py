"""The AWX execution environment, checked with ansible-builder itself (no container, no network).

ansible-builder reads two files of ours: meta/execution-environment.yml inside the installed
collection (our dependency declaration, seen by every EE that lists cloudops.pv2hvm) and
ee/execution-environment.yml (the EE definition, which the tarball must not ship). The fixtures
follow the builder's own steps: `ansible-builder create` writes the context, the galaxy stage's
`ansible-galaxy collection install -r requirements.yml` runs in the context's _build folder, and
the builder stage's introspection script reads the installed collections.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.support.galaxy import SITE_COLLECTIONS, build_collection, galaxy_env, install_collections, tool
from tests.support.modules import REPO_ROOT

EE_FILE = REPO_ROOT / "ee" / "execution-environment.yml"
COLLECTION = "cloudops.pv2hvm"
FROM_COLLECTION = "  # from collection "  # how introspection annotates each requirement line


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def definition() -> dict[str, Any]:
    return load_yaml(EE_FILE)


def ee_collections() -> list[dict[str, str]]:
    return definition()["dependencies"]["galaxy"]["collections"]


def requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def from_collection(lines: list[str], collection: str) -> list[str]:
    """The requirements introspection attributes to `collection`, without its annotation."""
    suffix = FROM_COLLECTION + collection
    return [line[: -len(suffix)] for line in lines if line.endswith(suffix)]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ee")


@pytest.fixture(scope="module")
def tarball(work: Path) -> Path:
    """The collection tarball, where `make build` puts it relative to ee/ (.build/dist)."""
    output = work / ".build" / "dist"
    output.mkdir(parents=True)
    return build_collection(output, galaxy_env(work))


@pytest.fixture(scope="module")
def created(work: Path, tarball: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`ansible-builder create` of ee/execution-environment.yml, copied into the checkout's layout."""
    (work / "ee").mkdir()
    ee_file = Path(shutil.copy(EE_FILE, work / "ee"))
    context = work / "ee-context"
    result = tool("ansible-builder", "create", "-f", str(ee_file), "--context", str(context),
                  "--output-filename", "Containerfile", env=galaxy_env(work))
    return result, context


@pytest.fixture(scope="module")
def collections(work: Path, created: tuple[subprocess.CompletedProcess[str], Path]) -> Path:
    """The EE's collections tree: the galaxy stage's install from the context's requirements.yml.

    amazon.aws and ansible.posix come from .venv (the galaxy stage downloads them), so --offline
    finds them installed and installs our tarball, named by its path relative to _build.
    """
    result, context = created
    assert result.returncode == 0, result.stdout + result.stderr
    env = galaxy_env(work)
    for name in ("amazon/aws", "ansible/posix"):
        link = Path(env["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / name
        link.parent.mkdir(parents=True)
        link.symlink_to(SITE_COLLECTIONS / name)
    return install_collections(env, "-r", "requirements.yml", cwd=context / "_build")


@pytest.fixture(scope="module")
def introspection(work: Path, collections: Path) -> subprocess.CompletedProcess[str]:
    """The builder stage's step: `introspect.py introspect <collections> --write-bindep --write-pip`."""
    scripts = importlib.resources.files("ansible_builder._target_scripts")
    with importlib.resources.as_file(scripts / "introspect.py") as introspect:
        return subprocess.run([sys.executable, str(introspect), "introspect", str(collections),
                               f"--write-bindep={work / 'out' / 'bindep.txt'}",
                               f"--write-pip={work / 'out' / 'requirements.txt'}"],
                              capture_output=True, text=True, check=False)


def test_tarball_ships_the_dependency_declaration_not_the_ee_definition(tarball: Path) -> None:
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        declaration = yaml.safe_load(archive.extractfile("meta/execution-environment.yml"))  # type: ignore[arg-type]
    assert not [name for name in names if name.split("/")[0] in {"ee", "context", ".build"}], names
    assert "requirements.txt" in names
    assert declaration == {"version": 1, "dependencies": {"python": "requirements.txt"}}


def test_builder_creates_a_context_holding_the_collection(created: tuple[subprocess.CompletedProcess[str], Path],
                                                          tarball: Path) -> None:
    result, context = created
    assert result.returncode == 0, result.stdout + result.stderr
    copied = context / "_build" / "collections" / tarball.name
    assert copied.is_file(), f"ansible-builder did not copy {tarball.name}:\n{result.stdout}{result.stderr}"
    assert copied.read_bytes() == tarball.read_bytes()
    galaxy = load_yaml(context / "_build" / "requirements.yml")
    assert {"name": f"collections/{tarball.name}", "type": "file"} in galaxy["collections"]
    base_image = definition()["images"]["base_image"]["name"]
    assert base_image.startswith("quay.io/ansible/awx-ee:") and not base_image.endswith(":latest")
    assert f'ARG EE_BASE_IMAGE="{base_image}"' in (context / "Containerfile").read_text(encoding="utf-8")


def test_introspection_of_the_installed_collections_succeeds(introspection: subprocess.CompletedProcess[str]) -> None:
    assert introspection.returncode == 0, introspection.stderr
    assert "Traceback" not in introspection.stderr


def test_introspection_reports_requirements_txt_for_the_collection(
        introspection: subprocess.CompletedProcess[str], work: Path) -> None:
    reported = yaml.safe_load(introspection.stdout)
    expected = requirement_lines(REPO_ROOT / "requirements.txt")
    assert expected and from_collection(reported["python"], COLLECTION) == expected
    written = (work / "out" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert from_collection(written, COLLECTION) == expected


def test_introspection_reports_no_system_packages_for_the_collection(
        introspection: subprocess.CompletedProcess[str]) -> None:
    """bindep.txt lists the worker's disk tools and the lab's packages: none belongs in the EE."""
    reported = yaml.safe_load(introspection.stdout)
    assert from_collection(reported["system"], COLLECTION) == []
    assert from_collection(reported["python"], "amazon.aws")  # the other collections are read too


def test_galaxy_dependencies_are_the_collections_the_ee_lists() -> None:
    galaxy = load_yaml(REPO_ROOT / "galaxy.yml")
    listed = {entry["name"]: entry["version"] for entry in ee_collections() if entry.get("type") != "file"}
    assert listed == galaxy["dependencies"]
    [own] = [entry["name"] for entry in ee_collections() if entry.get("type") == "file"]
    assert own == f"collections/{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"


def test_ee_ansible_core_meets_requires_ansible() -> None:
    """The base image's own ansible-core is older than meta/runtime.yml allows: the EE installs one."""
    requires = SpecifierSet(load_yaml(REPO_ROOT / "meta" / "runtime.yml")["requires_ansible"])
    package = Requirement(definition()["dependencies"]["ansible_core"]["package_pip"])
    assert package.name == "ansible-core"
    assert set(requires) <= set(package.specifier), f"{package} admits versions outside requires_ansible {requires}"
    tested = Version(importlib.metadata.version("ansible-core"))
    assert tested in package.specifier, f"{package} excludes the ansible-core the tests run ({tested})"
