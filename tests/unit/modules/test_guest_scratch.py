"""guest_scratch puts the chroot's temporary files into a guest root and takes them out again, also after a run
killed half-way, and never takes what is the image's own."""

from __future__ import annotations

from pathlib import Path

from tests.support.modules import run_module

SOURCE = {"/etc/apt/pv2hvm-sources.list": "deb http://127.0.0.1:8080/debian bookworm main\n"}
DIRS = ["/var/lib/apt/pv2hvm-lists", "/var/lib/apt/pv2hvm-lists/partial"]


def _guest(root: Path, resolv: str | None = "nameserver 10.0.0.2\n") -> Path:
    (root / "etc/apt").mkdir(parents=True)
    (root / "var/lib/apt").mkdir(parents=True)
    (root / "usr/sbin").mkdir(parents=True)
    if resolv is not None:
        (root / "etc/resolv.conf").write_text(resolv, encoding="utf-8")
    return root


def _scratch(root: Path, worker_resolv: Path, state: str = "present", check_mode: bool = False):
    return run_module("guest_scratch", {"root": str(root), "resolv_conf": str(worker_resolv), "dirs": DIRS, "files": SOURCE,
                                        "state": state}, check_mode=check_mode)


def test_present_then_absent_leaves_the_image_as_it_was_and_both_are_idempotent(tmp_path: Path) -> None:
    root = _guest(tmp_path / "guest")
    worker = tmp_path / "worker-resolv.conf"
    worker.write_text("nameserver 127.0.0.53\n", encoding="utf-8")

    put = _scratch(root, worker)
    assert put.rc == 0 and put["changed"] is True and put["found"] == [], put
    assert (root / "etc/resolv.conf").read_text(encoding="utf-8") == "nameserver 127.0.0.53\n"
    assert (root / "etc/resolv.conf.pv2hvm-saved").read_text(encoding="utf-8") == "nameserver 10.0.0.2\n"
    policy = root / "usr/sbin/policy-rc.d"
    assert "exit 101" in policy.read_text(encoding="utf-8") and policy.stat().st_mode & 0o777 == 0o755
    assert (root / "etc/apt/pv2hvm-sources.list").read_text(encoding="utf-8") == SOURCE["/etc/apt/pv2hvm-sources.list"]
    assert (root / "var/lib/apt/pv2hvm-lists/partial").is_dir()
    again = _scratch(root, worker)
    assert again["changed"] is False and again["written"] == [], again

    (root / "var/lib/apt/pv2hvm-lists/Packages").write_text("x", encoding="utf-8")  # what apt-get update leaves
    taken = _scratch(root, worker, "absent")
    assert taken.rc == 0 and taken["changed"] is True, taken
    assert set(taken["found"]) == {"etc/resolv.conf.pv2hvm-saved", "usr/sbin/policy-rc.d", "etc/apt/pv2hvm-sources.list",
                                   "var/lib/apt/pv2hvm-lists", "var/lib/apt/pv2hvm-lists/partial"}, taken
    left = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    assert left == ["etc", "etc/apt", "etc/resolv.conf", "usr", "usr/sbin", "var", "var/lib", "var/lib/apt"], left
    assert (root / "etc/resolv.conf").read_text(encoding="utf-8") == "nameserver 10.0.0.2\n"
    assert _scratch(root, worker, "absent")["changed"] is False


def test_a_run_killed_after_the_resolv_conf_was_set_aside_never_sets_the_workers_aside_over_it(tmp_path: Path) -> None:
    root = _guest(tmp_path / "guest", resolv=None)
    (root / "etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    worker = tmp_path / "worker-resolv.conf"
    worker.write_text("nameserver 127.0.0.53\n", encoding="utf-8")
    assert _scratch(root, worker).rc == 0
    rerun = _scratch(root, worker)  # the run after a crash in the chroot
    assert rerun["changed"] is False, rerun
    assert _scratch(root, worker, "absent").rc == 0
    assert (root / "etc/resolv.conf").is_symlink() and str((root / "etc/resolv.conf").readlink()) == "../run/systemd/resolve/stub-resolv.conf"


def test_an_image_without_resolv_conf_gets_none_back_and_its_own_policy_rc_d_stays(tmp_path: Path) -> None:
    root = _guest(tmp_path / "guest", resolv=None)
    own = root / "usr/sbin/policy-rc.d"
    own.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    worker = tmp_path / "worker-resolv.conf"
    worker.write_text("nameserver 127.0.0.53\n", encoding="utf-8")
    put = _scratch(root, worker)
    assert "etc/resolv.conf.pv2hvm-absent" in put["written"] and "usr/sbin/policy-rc.d" not in put["written"], put
    listed = _scratch(root, worker, "absent", check_mode=True)
    assert listed["changed"] is True and "usr/sbin/policy-rc.d" not in listed["found"], listed
    assert (root / "etc/resolv.conf").exists(), "check mode removed nothing"
    taken = _scratch(root, worker, "absent")
    assert taken.rc == 0 and not (root / "etc/resolv.conf").exists() and not (root / "etc/resolv.conf.pv2hvm-absent").exists()
    assert own.read_text(encoding="utf-8") == "#!/bin/sh\nexit 0\n", "the image's own policy-rc.d is the image's"


def test_a_root_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    result = run_module("guest_scratch", {"root": str(tmp_path / "missing")})
    assert result.rc != 0 and "is not a directory: mount the image's root filesystem there" in result["msg"], result
    result = run_module("guest_scratch", {"root": "/"})
    assert result.rc != 0 and "root is /" in result["msg"], result
