"""The collection builds, installs from the tarball, and documents its modules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.galaxy import BIN, build_collection, galaxy_env, install_collections
from tests.support.modules import REPO_ROOT

MODULES = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build the tarball and install it into an empty collections path."""
    work = tmp_path_factory.mktemp("galaxy")
    env = galaxy_env(work)
    install_collections(env, str(build_collection(work, env)))
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
