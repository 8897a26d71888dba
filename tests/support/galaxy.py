"""The collection as users get it: this checkout built into a tarball and installed with ansible-galaxy."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.support.modules import REPO_ROOT

BIN = Path(sys.executable).parent
# amazon.aws and ansible.posix as the `ansible` bundle in .venv carries them.
SITE_COLLECTIONS = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"


def galaxy_env(work: Path) -> dict[str, str]:
    """This environment without the checkout's ANSIBLE_* settings; collections go to work/collections."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(work / "collections")
    env["ANSIBLE_CONFIG"] = str(work / "ansible.cfg")  # an absent file: no checkout settings leak in
    return env


def tool(name: str, *args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run one of .venv's command-line tools (ansible-galaxy, ansible-doc, ansible-builder, ...)."""
    return subprocess.run([str(BIN / name), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False)


def build_collection(output: Path, env: dict[str, str]) -> Path:
    """`ansible-galaxy collection build` of the checkout into `output`; returns the tarball."""
    build = tool("ansible-galaxy", "collection", "build", "--output-path", str(output), str(REPO_ROOT), env=env)
    assert build.returncode == 0, build.stderr
    [tarball] = output.glob("cloudops-pv2hvm-*.tar.gz")
    return tarball


def install_collections(env: dict[str, str], *sources: str, cwd: Path | None = None) -> Path:
    """`ansible-galaxy collection install --offline` into env's collections path; returns that path."""
    target = Path(env["ANSIBLE_COLLECTIONS_PATH"])
    install = tool("ansible-galaxy", "collection", "install", "--offline", "-p", str(target), *sources, env=env, cwd=cwd)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (target / "ansible_collections" / "cloudops" / "pv2hvm" / "MANIFEST.json").is_file()
    return target
