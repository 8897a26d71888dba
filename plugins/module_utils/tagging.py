# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The tags that mark what this collection created, and how to find it again.

Every resource a migration creates carries `pv2hvm:migration=<id>` and
`pv2hvm:purpose=<purpose>`. Re-running a migration finds its resources by these tags
(idempotency), and cleanup finds them after a crash.
"""

from __future__ import annotations

from typing import Dict, List, Optional

TAG_MIGRATION = "pv2hvm:migration"
TAG_PURPOSE = "pv2hvm:purpose"
# A data-copy volume also says which of the source's data volumes it copies (one per device name).
TAG_SOURCE_DEVICE = "pv2hvm:source-device"
# Set on a migration's AMI once it is registered, boot-tested (or the test was turned off) and about to be
# reported: a re-run then takes the migration as done, and cleanup keeps the AMI unless told otherwise.
TAG_COMPLETED = "pv2hvm:completed"
# A worker the playbook launched carries one such key per migration it serves (pv2hvm:worker-for:<id>), so that
# cleaning up any of those migrations finds it.
TAG_WORKER_FOR = "pv2hvm:worker-for:"
PURPOSES = ("working-copy", "destination", "data-copy", "image", "test-instance", "worker")


def migration_tags(migration_id: str, purpose: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The tags for a resource this collection creates: the caller's, then ours (ours win)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    tags = dict(extra or {})
    tags[TAG_MIGRATION] = migration_id
    tags[TAG_PURPOSE] = purpose
    return tags


def migration_filters(migration_id: str, purpose: Optional[str] = None, source_device: Optional[str] = None) -> List[Dict[str, List[str]]]:
    """EC2 Describe* filters that select one migration's resources (of one purpose, of one source device)."""
    filters = [{"Name": f"tag:{TAG_MIGRATION}", "Values": [migration_id]}]
    if purpose:
        filters.append({"Name": f"tag:{TAG_PURPOSE}", "Values": [purpose]})
    if source_device:
        filters.append({"Name": f"tag:{TAG_SOURCE_DEVICE}", "Values": [source_device]})
    return filters


def is_ours(tags: Dict[str, str]) -> bool:
    """True when the resource was created by this collection."""
    return bool(tags.get(TAG_MIGRATION))


def tag_specifications(resource_type: str, tags: Dict[str, str]) -> List[Dict[str, object]]:
    """TagSpecifications for a Create*/Register* call, so a resource is never untagged."""
    return [{"ResourceType": resource_type, "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}]
