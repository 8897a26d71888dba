"""An SSH worker for the lab: the system's sshd as a child process on 127.0.0.1, made for one run.

`LabSshd` starts `/usr/sbin/sshd -D` (openssh-server, bindep's test profile) on a free port of
127.0.0.1 with its own sshd_config, host key and client key in a temp dir: root may log in by that
key only (no password, no PAM). `inventory_host()` gives the inventory entry of that worker - the
address, port, user, key and a known_hosts file holding the host key, so host key checking stays
on - and `log()` what sshd logged (LogLevel DEBUG1: each login with its key, each session). `stop()`
ends sshd and the connections it forked and removes the temp dir; `with LabSshd() as sshd:` does both.

`python -m tests.lab.sshd` starts one, prints its inventory entry as JSON and serves until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
# sshd's compiled-in privilege separation directory (systemd's RuntimeDirectory on a booted host).
PRIVSEP_DIR = Path("/run/sshd")
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (sshd's connection children start sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def running(pid: int) -> bool:
    """Whether `pid` is a process that has not exited. A zombie has: an orphan waits there until PID 1 reaps
    it, and a container's PID 1 may never do so."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def end(pids: list[int], timeout: float = STOP_TIMEOUT) -> list[int]:
    """SIGTERM `pids`, wait up to `timeout` for them to exit, SIGKILL what is left; returns what still runs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while [pid for pid in pids if running(pid)] and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [pid for pid in pids if running(pid)]
        if not pids:
            break
    return pids


def keygen(path: Path, comment: str) -> Path:
    """A new ed25519 key pair at `path` (and `path`.pub); returns `path`."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, text=True)
    return path


def fingerprint(public_key: Path) -> str:
    """The key's SHA256 fingerprint, as sshd logs it ("SHA256:...")."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(public_key)], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def sshd_config(directory: Path, port: int, host_key: Path) -> str:
    return "\n".join([
        f"ListenAddress {LOOPBACK}:{port}",
        f"HostKey {host_key}",
        f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        # The temp dir's parents (/tmp) are world-writable, which StrictModes refuses.
        "StrictModes no",
        "PermitUserEnvironment no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "PrintMotd no",
        # ansible multiplexes its tasks over one connection (ControlPersist), several forks at once.
        "MaxSessions 50",
        "MaxStartups 50",
        "LogLevel DEBUG1",
        f"Subsystem sftp {SFTP_SERVER}",
        "",
    ])


class LabSshd:
    """sshd on 127.0.0.1:<free port>, root login by a key made for this run."""

    def __init__(self, user: str = "root") -> None:
        self.user = user
        self.directory = Path()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def client_key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def log_path(self) -> Path:
        return self.directory / "sshd.log"

    def start(self) -> LabSshd:
        self.directory = Path(tempfile.mkdtemp(prefix="pv2hvm-sshd-"))
        try:
            self._prepare()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> None:
        host_key = keygen(self.directory / "ssh_host_ed25519_key", "pv2hvm-lab-sshd")
        keygen(self.client_key, "pv2hvm-lab-client")
        shutil.copy(self.client_key.with_suffix(".pub"), self.directory / "authorized_keys")
        self.port = free_port()
        public_host_key = " ".join(host_key.with_suffix(".pub").read_text(encoding="utf-8").split()[:2])
        self.known_hosts.write_text(f"[{LOOPBACK}]:{self.port} {public_host_key}\n", encoding="utf-8")
        config = self.directory / "sshd_config"
        config.write_text(sshd_config(self.directory, self.port, host_key), encoding="utf-8")
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"{SSHD} -t -f {config} refused the configuration: {check.stderr.strip()}")

    def _launch(self) -> None:
        command = [SSHD, "-D", "-f", str(self.directory / "sshd_config"), "-E", str(self.log_path)]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=2) as connection:
                    if connection.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd did not answer on {LOOPBACK}:{self.port} within {START_TIMEOUT:.0f} s: {self.log()[-2000:]}")

    def stop(self) -> None:
        """End sshd and the connections it forked (a client's ControlPersist would keep one), remove its files.

        Safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            # Connections first, and waited for: a signalled child is not gone the moment kill() returns.
            end(descendants(self.process.pid))
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.directory != Path() and self.directory.exists():
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LabSshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def client_fingerprint(self) -> str:
        return fingerprint(self.client_key.with_suffix(".pub"))

    def inventory_host(self, key_file: Path | None = None, known_hosts: Path | None = None) -> dict[str, Any]:
        """The worker's inventory entry: this sshd by address, the run's key, host key checking on.

        `key_file`/`known_hosts` name the files where the connecting side sees them (e.g. in a container)."""
        return {
            "ansible_connection": "ssh",
            "ansible_host": LOOPBACK,
            "ansible_port": self.port,
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": str(key_file or self.client_key),
            "ansible_ssh_common_args": (f"-o UserKnownHostsFile={known_hosts or self.known_hosts} "
                                        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"),
            "ansible_python_interpreter": "/usr/bin/python3",
        }


def main() -> int:
    with LabSshd() as sshd:
        print(json.dumps({"worker": sshd.inventory_host(), "log": str(sshd.log_path)}), flush=True)
        try:
            while sshd.process is not None and sshd.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
