#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cleanup
version_added: 0.1.0
short_description: Remove what PV to HVM migrations created, found by their tags
description:
  - Finds every instance, volume, AMI and snapshot tagged C(pv2hvm:migration) - of one migration
    (O(migration_id)), or of any migration older than O(older_than_hours) - and removes them in a safe order
    - instances are terminated, volumes detached and deleted, AMIs deregistered, then snapshots deleted.
  - Only resources carrying a C(pv2hvm:migration) tag are ever touched, so a source instance, its volumes and
    its AMI are never found.
  - With O(migration_id), a worker the playbook launched for that migration (tagged C(pv2hvm:worker-for:<id>))
    is found too, with purpose C(worker), so that it does not outlive a crashed run. Leave C(worker) out of
    O(purposes) to keep it, for example while the run's other migrations still use it.
  - An AMI tagged C(pv2hvm:completed) - the finished result of a migration, registered and boot-tested - is kept,
    with its snapshots, unless O(keep_completed=false). An AMI without it (a run that died before its boot test)
    is removed like any temporary resource.
  - In check mode it only lists what it would remove, and what it keeps and why (a dry run).
author:
  - cloudops maintainers (@cloudops)
options:
  migration_id:
    description:
      - Remove the resources of this migration.
      - Exactly one of O(migration_id) and O(older_than_hours) is required.
    type: str
  older_than_hours:
    description:
      - Remove the resources of every migration that were created more than this many hours ago.
    type: int
  purposes:
    description:
      - Only remove resources with these C(pv2hvm:purpose) tags. The default is all of them.
      - For example V([working-copy, destination, data-copy, test-instance, worker]) removes a finished migration's
        temporary resources and keeps its AMI and the AMI's snapshots.
    type: list
    elements: str
    choices: [working-copy, destination, data-copy, image, test-instance, worker]
    default: [working-copy, destination, data-copy, image, test-instance, worker]
  keep_completed:
    description:
      - Keep the AMIs tagged C(pv2hvm:completed), and their snapshots.
      - Set V(false) to remove a finished migration's AMI as well, for example to undo a migration.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for each instance to terminate and each volume to detach and go.
    type: int
    default: 900
notes:
  - Supports check mode - the dry run lists the resources and removes nothing.
seealso:
  - module: cloudops.pv2hvm.volume
  - module: cloudops.pv2hvm.hvm_image
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List what a migration left behind (dry run)
  cloudops.pv2hvm.cleanup:
    migration_id: pv2hvm-i-0123456789abcdef0
  check_mode: true
  register: pv2hvm_leftovers

- name: Remove a finished migration's temporary resources, keeping its AMI
  cloudops.pv2hvm.cleanup:
    migration_id: pv2hvm-i-0123456789abcdef0
    purposes: [working-copy, destination, data-copy, test-instance, worker]

- name: Remove everything of migrations that crashed more than a day ago, keeping their finished AMIs
  cloudops.pv2hvm.cleanup:
    older_than_hours: 24

- name: Undo a migration, its finished AMI included
  cloudops.pv2hvm.cleanup:
    migration_id: pv2hvm-i-0123456789abcdef0
    keep_completed: false
"""

RETURN = r"""
resources:
  description:
    - Every resource found, in the order it is (or would be) removed; those listed in RV(kept) stay.
    - C(completed) is the AMI's C(pv2hvm:completed) tag (empty for everything else).
  returned: always
  type: list
  elements: dict
  sample:
    - {"type": "volume", "id": "vol-0123", "migration": "pv2hvm-i-0123", "purpose": "destination",
       "created": "2026-11-24T10:00:00+00:00", "completed": ""}
removed:
  description: The IDs removed (empty in check mode).
  returned: always
  type: list
  elements: str
kept:
  description:
    - Resources found but kept, with the reason - a completed AMI (O(keep_completed)), or a snapshot still used
      by an AMI that is kept.
  returned: always
  type: list
  elements: dict
  sample:
    - {"id": "ami-0123", "reason": "completed migration pv2hvm-i-0123 (boot-tested on i-0456 at 2026-12-03T10:00:00Z); set keep_completed: false to remove it"}
    - {"id": "snap-0789", "reason": "used by AMI ami-0123, which is kept"}
"""

import datetime
from typing import Any, Dict, List, Optional

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import delete_snapshot
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import delete_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import deregister_image
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import detach_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_instances
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_own_images
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_own_snapshots
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_volumes
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_volume
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import terminate_instances
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import PURPOSES
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import TAG_COMPLETED
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import TAG_MIGRATION
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import TAG_PURPOSE
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import TAG_WORKER_FOR
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import WaitTimeout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import wait_for

# Removal order: what uses a resource goes before it.
ORDER = ("instance", "volume", "image", "snapshot")


def tag_filters(migration_id: Optional[str]) -> List[Dict[str, Any]]:
    if migration_id:
        return [{"Name": f"tag:{TAG_MIGRATION}", "Values": [migration_id]}]
    return [{"Name": "tag-key", "Values": [TAG_MIGRATION]}]


def created_at(kind: str, resource: Dict[str, Any]) -> datetime.datetime:
    value = {"instance": "LaunchTime", "volume": "CreateTime", "snapshot": "StartTime", "image": "CreationDate"}[kind]
    stamp = resource[value]
    if isinstance(stamp, str):
        stamp = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def entry(kind: str, resource: Dict[str, Any]) -> Dict[str, Any]:
    ids = {"instance": "InstanceId", "volume": "VolumeId", "snapshot": "SnapshotId", "image": "ImageId"}
    tags = boto3_tag_list_to_ansible_dict(resource.get("Tags", []))
    return {
        "type": kind,
        "id": resource[ids[kind]],
        "migration": tags.get(TAG_MIGRATION, ""),
        "purpose": tags.get(TAG_PURPOSE, ""),
        "created": created_at(kind, resource).isoformat(),
        "completed": tags.get(TAG_COMPLETED, ""),
        "raw": resource,
    }


def find_all(client: Any, migration_id: Optional[str]) -> List[Dict[str, Any]]:
    filters = tag_filters(migration_id)
    found = [entry("instance", r) for r in find_instances(client, filters)]
    if migration_id:
        workers = find_instances(client, [{"Name": "tag-key", "Values": [TAG_WORKER_FOR + migration_id]}])
        found += [entry("instance", r) for r in workers if r["InstanceId"] not in {item["id"] for item in found}]
    found += [entry("volume", r) for r in find_volumes(client, filters)]
    found += [entry("image", r) for r in find_own_images(client, filters)]
    # Failed snapshots too (an EBS direct upload that was sealed wrong): they stay listed until deleted.
    found += [entry("snapshot", r) for r in find_own_snapshots(client, filters, include_failed=True)]
    return sorted(found, key=lambda item: (ORDER.index(item["type"]), item["id"]))


def selected(resources: List[Dict[str, Any]], params: Dict[str, Any]) -> List[Dict[str, Any]]:
    chosen = [r for r in resources if r["purpose"] in params["purposes"] or r["purpose"] not in PURPOSES]
    if params["older_than_hours"] is not None:
        cutoff = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=params["older_than_hours"])
        chosen = [r for r in chosen if datetime.datetime.fromisoformat(r["created"]) < cutoff]
    return chosen


def completed_images(chosen: List[Dict[str, Any]], params: Dict[str, Any]) -> Dict[str, str]:
    """The chosen AMIs to keep because their migration completed: AMI id -> why."""
    if not params["keep_completed"]:
        return {}
    return {
        item["id"]: f"completed migration {item['migration']} ({item['completed']}); set keep_completed: false to remove it"
        for item in chosen if item["type"] == "image" and item["completed"]
    }


def snapshots_in_use(resources: List[Dict[str, Any]], chosen: List[Dict[str, Any]]) -> Dict[str, str]:
    """Snapshots used by an AMI that stays (AWS refuses to delete them): snapshot id -> AMI id."""
    removed_images = {r["id"] for r in chosen if r["type"] == "image"}
    in_use = {}
    for image in (r for r in resources if r["type"] == "image" and r["id"] not in removed_images):
        for mapping in image["raw"].get("BlockDeviceMappings", []):
            snapshot_id = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot_id:
                in_use[snapshot_id] = image["id"]
    return in_use


def remove(client: Any, item: Dict[str, Any], timeout: int) -> None:
    kind, resource_id = item["type"], item["id"]
    if kind == "instance":
        terminate_instances(client, [resource_id])
        wait_for(client, "instance_terminated", timeout, InstanceIds=[resource_id])
    elif kind == "volume":
        # Look again: terminating an instance above may have detached or deleted it.
        volume = get_volume(client, resource_id)
        if volume is None:
            return
        for attachment in volume.get("Attachments", []):
            if attachment.get("State") in ("attaching", "attached", "busy"):
                detach_volume(client, resource_id, attachment["InstanceId"])
                wait_for(client, "volume_available", timeout, VolumeIds=[resource_id])
        delete_volume(client, resource_id)
    elif kind == "image":
        deregister_image(client, resource_id)
    else:
        delete_snapshot(client, resource_id)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            migration_id=dict(type="str"),
            older_than_hours=dict(type="int"),
            purposes=dict(type="list", elements="str", choices=list(PURPOSES), default=list(PURPOSES)),
            keep_completed=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=900),
        ),
        required_one_of=[("migration_id", "older_than_hours")],
        supports_check_mode=True,
    )
    params = module.params
    if params["older_than_hours"] is not None and params["older_than_hours"] < 0:
        module.fail_json(msg=f"older_than_hours must be 0 or more, got {params['older_than_hours']}.")
    client = ec2_client(module)
    removed: List[str] = []
    kept: List[Dict[str, str]] = []
    chosen: List[Dict[str, Any]] = []
    to_remove: List[Dict[str, Any]] = []
    try:
        resources = find_all(client, params["migration_id"])
        chosen = selected(resources, params)
        completed = completed_images(chosen, params)
        kept.extend({"id": image_id, "reason": reason} for image_id, reason in completed.items())
        in_use = snapshots_in_use(resources, [item for item in chosen if item["id"] not in completed])
        kept.extend({"id": snapshot_id, "reason": f"used by AMI {image_id}, which is kept"}
                    for snapshot_id, image_id in in_use.items() if any(item["id"] == snapshot_id for item in chosen))
        kept_ids = {entry["id"] for entry in kept}
        to_remove = [item for item in chosen if item["id"] not in kept_ids]
        for item in to_remove:
            if not module.check_mode:
                remove(client, item, params["wait_timeout"])
                removed.append(item["id"])
    except WaitTimeout as error:
        module.fail_json(msg=f"{error}. Run the cleanup again to finish.", removed=removed, kept=kept)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        # A dry run removes nothing, and an error that is not EC2's answer means EC2 was never reached.
        reached = isinstance(error, botocore.exceptions.ClientError)
        if module.check_mode:
            what = "The cleanup's dry run stopped, nothing was removed" + ("" if reached else ": EC2 could not be reached")
        else:
            what = (f"Cleanup stopped after removing {len(removed)} resource(s)" + ("" if reached else ": EC2 could not be reached")
                    + "; run it again to finish")
        fail_aws(module, error, what, removed=removed, kept=kept)
    listed = [{key: value for key, value in item.items() if key != "raw"} for item in chosen]
    changed = bool(removed) or (module.check_mode and bool(to_remove))
    module.exit_json(changed=changed, resources=listed, removed=removed, kept=kept)


if __name__ == "__main__":
    main()
