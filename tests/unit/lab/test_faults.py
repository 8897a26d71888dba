"""The lab's fault table: an action after a call AWS has answered, only for the calls it names."""

from __future__ import annotations

from tests.lab.faults import Faults


def test_an_action_after_a_matching_call_skips_the_others() -> None:
    faults = Faults()
    fired: list[str] = []
    faults.after("CreateSnapshot", lambda: fired.append("killed"), matching="of HVM AMI")
    source = {"VolumeId": ["vol-1"], "Description": ["pv2hvm m: root volume of i-1"]}
    destination = {"VolumeId": ["vol-2"], "Description": ["pv2hvm m: /dev/sda1 of HVM AMI web-hvm"]}
    assert faults.after_due("CreateSnapshot", source) is None, "the source's snapshot is not the one armed"
    action = faults.after_due("CreateSnapshot", destination)
    assert action is not None
    action()
    assert fired == ["killed"]
    assert faults.after_due("CreateSnapshot", destination) is None, "it runs once"


def test_an_action_without_a_match_counts_every_call() -> None:
    faults = Faults()
    faults.after("PutSnapshotBlock", lambda: None, calls=2)
    assert faults.after_due("PutSnapshotBlock", {"BlockIndex": ["0"]}) is None
    assert faults.after_due("PutSnapshotBlock", {"BlockIndex": ["1"]}) is not None
