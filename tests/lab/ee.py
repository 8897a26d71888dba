"""`make ee`: the AWX execution environment of ee/execution-environment.yml, built offline on this machine kind.

Users build the EE on the pinned upstream base (quay.io/ansible/awx-ee) with
`ansible-builder build -f ee/execution-environment.yml`. Here no container registry and no Galaxy server
is reachable, so this builds the same definition with three things swapped, in a generated definition
under .build/ee/ (ee/execution-environment.yml itself is left as users get it):

- the base image: Debian bookworm from `mmdebstrap`, imported with `podman import`, holding python3 and
  pip from apt (Debian's Python refuses `ensurepip`: `skip_pip_install`), the OpenSSH client (the worker
  is reached over SSH), the host's local CA certificates (TLS to the package registries needs them here)
  and ee/pkgmgr-apt, ansible-builder's package manager (it speaks dnf's `install`/`clean all`) on apt;
- ansible-runner, which awx-ee carries and Debian does not (the version navigator runs here);
- Galaxy: amazon.aws and ansible.posix are copied into the image's collections path from .venv (the
  `ansible` bundle's trees), so the galaxy stage's `ansible-galaxy collection install --offline` finds them
  installed and installs only this collection's tarball (`make build`).

podman runs with ee/containers.conf (runc, rlimits this machine kind allows). Then it checks that
`ansible-doc -l cloudops.pv2hvm` inside the image lists every module of plugins/modules/ and prints the
build time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Iterator

import yaml

from tests.lab.images import DEFAULT_MIRROR, MIRROR_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
EE_DIR = REPO_ROOT / "ee"
DEFINITION = EE_DIR / "execution-environment.yml"
CONTAINERS_CONF = EE_DIR / "containers.conf"
PKGMGR = EE_DIR / "pkgmgr-apt"
PKGMGR_IN_IMAGE = "/usr/local/bin/pkgmgr-apt"
BUILD_DIR = REPO_ROOT / ".build" / "ee"
SITE_COLLECTIONS = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"
OFFLINE_COLLECTIONS = ("amazon/aws", "ansible/posix")
IMAGE_COLLECTIONS = "/usr/share/ansible/collections/ansible_collections"
BASE_PACKAGES = ("python3", "python3-pip", "ca-certificates", "openssh-client")
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
BASE_REPOSITORY = "localhost/pv2hvm-ee-base"
# ansible-navigator refuses podman without this directory; this machine kind has none.
MQUEUE_DIR = Path("/dev/mqueue")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def galaxy() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text(encoding="utf-8"))


def ee_image() -> str:
    """The EE's tag: localhost/cloudops/pv2hvm-ee:<collection version>."""
    return f"localhost/{galaxy()['namespace']}/{galaxy()['name']}-ee:{galaxy()['version']}"


def tarball() -> Path:
    info = galaxy()
    return REPO_ROOT / ".build" / "dist" / f"{info['namespace']}-{info['name']}-{info['version']}.tar.gz"


def podman_env() -> dict[str, str]:
    """This environment with podman reading the project's containers.conf."""
    return dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a build step with its output on this terminal; a failure names the command."""
    result = subprocess.run(command, env=podman_env(), text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr or ''}")
    return result


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], env=podman_env(), check=False).returncode == 0


def base_image() -> str:
    """The offline base's tag, keyed by what goes into it (packages, pkgmgr-apt, local CA certificates)."""
    digest = hashlib.sha256(" ".join(BASE_PACKAGES).encode())
    digest.update(PKGMGR.read_bytes())
    for cert in sorted(LOCAL_CA_DIR.rglob("*.crt")):
        digest.update(cert.read_bytes())
    return f"{BASE_REPOSITORY}:bookworm-{digest.hexdigest()[:12]}"


def build_base(name: str) -> None:
    """Debian bookworm from mmdebstrap, imported into podman as `name`."""
    archive = BUILD_DIR / "base.tar"
    mirror = os.environ.get(MIRROR_ENV, DEFAULT_MIRROR)
    say(f"base image {name}: mmdebstrap bookworm from {mirror}")
    local_ca = [f"--customize-hook=copy-in {LOCAL_CA_DIR} {LOCAL_CA_DIR.parent}"] if LOCAL_CA_DIR.is_dir() else []
    run([
        "mmdebstrap", "--mode=root", "--variant=apt", "--quiet", "--format=tar",
        f"--include={','.join(BASE_PACKAGES)}", *local_ca,
        '--customize-hook=chroot "$1" update-ca-certificates --fresh >/dev/null',
        f"--customize-hook=upload {PKGMGR} {PKGMGR_IN_IMAGE}",
        f'--customize-hook=chmod 0755 "$1{PKGMGR_IN_IMAGE}"',
        '--customize-hook=rm -f "$1/etc/resolv.conf"',  # podman mounts its own
        "bookworm", str(archive), mirror,
    ])
    run(["podman", "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["bash"]', str(archive), name], stdout=subprocess.DEVNULL)
    archive.unlink()


def stage_offline_collections(target: Path) -> Path:
    """Copies of .venv's amazon.aws and ansible.posix trees, laid out as a collections path."""
    shutil.rmtree(target, ignore_errors=True)
    for name in OFFLINE_COLLECTIONS:
        shutil.copytree(SITE_COLLECTIONS / name, target / "ansible_collections" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return target


def offline_definition(base: str, collections: Path) -> dict[str, Any]:
    """ee/execution-environment.yml on the offline base, with the offline galaxy stage."""
    definition = yaml.safe_load(DEFINITION.read_text(encoding="utf-8"))
    definition["images"]["base_image"]["name"] = base
    definition["dependencies"]["ansible_runner"] = {
        "package_pip": f"ansible-runner=={importlib.metadata.version('ansible-runner')}"}
    definition.setdefault("options", {}).update(package_manager_path=PKGMGR_IN_IMAGE, skip_pip_install=True)
    definition.setdefault("build_arg_defaults", {})["ANSIBLE_GALAXY_CLI_COLLECTION_OPTS"] = "--offline"
    for entry in definition["additional_build_files"]:
        entry["src"] = str((EE_DIR / entry["src"]).resolve())  # the generated file lives elsewhere
    definition["additional_build_files"].append({"src": str(collections), "dest": "offline"})
    definition.setdefault("additional_build_steps", {})["prepend_galaxy"] = [
        f"COPY _build/offline/ansible_collections {IMAGE_COLLECTIONS}"]
    return definition


def listed_modules(image: str) -> set[str]:
    """The modules `ansible-doc -l cloudops.pv2hvm` lists inside the image."""
    result = run(["podman", "run", "--rm", image, "ansible-doc", "-l", "-j", "cloudops.pv2hvm"], capture_output=True)
    return set(json.loads(result.stdout))


def expected_modules() -> set[str]:
    return {f"cloudops.pv2hvm.{path.stem}" for path in (REPO_ROOT / "plugins" / "modules").glob("*.py")
            if path.stem != "__init__"}


def build(image: str, no_cache: bool = False) -> float:
    """Build the EE as `image`; returns the seconds it took, base image included."""
    started = time.monotonic()
    if not tarball().is_file():
        raise SystemExit(f"{tarball()} is missing: run `make build` first (make ee does).")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    base = base_image()
    if image_exists(base):
        say(f"base image {base} (cached)")
    else:
        build_base(base)
    definition_file = BUILD_DIR / "execution-environment.yml"
    definition = offline_definition(base, stage_offline_collections(BUILD_DIR / "collections"))
    definition_file.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    say(f"ansible-builder build -f {definition_file.relative_to(REPO_ROOT)} -t {image}")
    command = [str(Path(sys.executable).with_name("ansible-builder")), "build", "-f", str(definition_file),
               "--context", str(BUILD_DIR / "context"), "-t", image, "--container-runtime", "podman",
               "--extra-build-cli-args=--network=host", "-v", "2"]
    run(command + (["--no-cache"] if no_cache else []), cwd=REPO_ROOT)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=ee_image(), help="the image's name (default: %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    args = parser.parse_args(argv)
    seconds = build(args.tag, args.no_cache)
    listed, expected = listed_modules(args.tag), expected_modules()
    say(f"ansible-doc -l cloudops.pv2hvm in {args.tag}: {', '.join(sorted(listed))}")
    if listed != expected:
        say(f"FAIL: missing {sorted(expected - listed)}, unexpected {sorted(listed - expected)}")
        return 1
    say(f"built {args.tag} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def navigator_command(playbook: Path, inventory: Path, extra_vars: Path, env: dict[str, str], image: str,
                      mounts: list[Path], log_file: Path) -> list[str]:
    """`ansible-navigator run` of `playbook` in the EE `image`, as AWX runs a job: stdout mode, the image as is.

    The container gets the host network (the lab and its sshd are on 127.0.0.1), `env` (as AWX's AWS
    credential sets it) and `mounts` at the same paths (ansible-navigator itself mounts the playbook's
    folder, the project: naming it again is an error)."""
    command = [str(Path(sys.executable).with_name("ansible-navigator")), "run", str(playbook),
               "-i", str(inventory), "-e", f"@{extra_vars}",
               "--mode", "stdout", "--execution-environment", "true", "--container-engine", "podman",
               "--execution-environment-image", image, "--pull-policy", "never",
               "--playbook-artifact-enable", "false", "--log-file", str(log_file),
               "--container-options=--network=host"]
    for mount in mounts:
        command += ["--execution-environment-volume-mounts", f"{mount}:{mount}"]
    for key, value in sorted(env.items()):
        command += ["--set-environment-variable", f"{key}={value}"]
    return command


def navigator_env() -> dict[str, str]:
    """podman_env() without the checkout's ANSIBLE_* settings: the EE's own collections must be the ones used."""
    return {key: value for key, value in podman_env().items() if not key.startswith("ANSIBLE_")}


def image_user(image: str) -> int:
    """The uid the EE runs as (ansible-builder's default: 1000): the files it writes or reads must be its."""
    result = run(["podman", "image", "inspect", "--format", "{{.Config.User}}", image], capture_output=True)
    return int(result.stdout.strip() or 0)


@contextlib.contextmanager
def mqueue_dir() -> Iterator[Path]:
    """/dev/mqueue for ansible-navigator's podman check while it runs; removed again if it was made here."""
    made = not MQUEUE_DIR.is_dir()
    if made:
        MQUEUE_DIR.mkdir(mode=0o1777)
    try:
        yield MQUEUE_DIR
    finally:
        if made:
            MQUEUE_DIR.rmdir()
