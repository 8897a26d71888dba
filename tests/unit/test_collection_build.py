"""The collection builds, installs from the tarball, and documents its modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.modules import REPO_ROOT

BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build the tarball and install it into an empty collections path."""
    work = tmp_path_factory.mktemp("galaxy")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(work / "collections")
    env["ANSIBLE_CONFIG"] = str(work / "ansible.cfg")  # an absent file: no checkout settings leak in
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work), str(REPO_ROOT)],
                           env=env, capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    [tarball] = work.glob("cloudops-pv2hvm-*.tar.gz")
    install = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(work / "collections"), str(tarball)],
                             env=env, capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (work / "collections" / "ansible_collections" / "cloudops" / "pv2hvm" / "MANIFEST.json").is_file()
    return env


def test_tarball_leaves_out_caches_and_virtualenvs(installed: dict[str, str]) -> None:
    root = Path(installed["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "cloudops" / "pv2hvm"
    assert not (root / ".venv").exists() and not (root / ".build").exists()
    assert (root / "meta" / "runtime.yml").is_file()


@pytest.mark.parametrize("name", MODULES)
def test_installed_module_documentation_renders(installed: dict[str, str], name: str) -> None:
    doc = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", "module", f"cloudops.pv2hvm.{name}"],
                         env=installed, capture_output=True, text=True, check=False)
    assert doc.returncode == 0, doc.stderr
    entry = json.loads(doc.stdout)[f"cloudops.pv2hvm.{name}"]
    assert entry["doc"]["short_description"]
    assert entry["examples"].strip() and entry["return"]


@pytest.mark.parametrize("playbook", ["migrate_pv_to_hvm", "convert_image", "cleanup"])
def test_installed_playbooks_run_by_their_fqcn(installed: dict[str, str], playbook: str) -> None:
    check = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", f"cloudops.pv2hvm.{playbook}"],
                           env=installed, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    installed_copy = Path(installed["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "cloudops" / "pv2hvm" / "playbooks" / f"{playbook}.yml"
    assert f"playbook: {installed_copy}" in check.stdout
