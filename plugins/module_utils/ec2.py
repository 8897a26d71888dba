# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The EC2 calls the AWS-side modules make, one small function each.

`client` is `module.client("ec2", retry_decorator=...)` from `ec2_client()`, so every
call here passes `aws_retry=True` and throttling or eventual-consistency errors are
retried with jittered backoff. Lookups return None (or []) for what does not exist;
everything else raises botocore's ClientError for the module to report.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Volume and snapshot states that no longer count as existing.
GONE_VOLUME_STATES = ("deleting", "deleted", "error")
GONE_SNAPSHOT_STATES = ("error", "recoverable")


def ec2_client(module: Any) -> Any:
    """An EC2 client whose calls retry throttling and transient errors with jittered backoff."""
    return module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10))


def get_instance(client: Any, instance_id: str) -> Optional[Dict[str, Any]]:
    try:
        reservations = client.describe_instances(aws_retry=True, InstanceIds=[instance_id])["Reservations"]
    except is_boto3_error_code(["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"]):
        return None
    instances = [instance for reservation in reservations for instance in reservation["Instances"]]
    return instances[0] if instances else None


@AWSRetry.jittered_backoff(retries=10)
def find_instances(client: Any, filters: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Instances matching `filters` that are not terminated (or on their way there)."""
    paginator = client.get_paginator("describe_instances")
    reservations = paginator.paginate(Filters=filters).build_full_result()["Reservations"]
    instances = [instance for reservation in reservations for instance in reservation["Instances"]]
    return [instance for instance in instances if instance["State"]["Name"] not in ("shutting-down", "terminated")]


def get_image(client: Any, image_id: str) -> Optional[Dict[str, Any]]:
    try:
        images = client.describe_images(aws_retry=True, ImageIds=[image_id])["Images"]
    except is_boto3_error_code(["InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable"]):
        return None
    return images[0] if images else None


def find_own_images(client: Any, filters: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The account's own AMIs that match `filters` (e.g. a name or a migration's tags)."""
    return client.describe_images(aws_retry=True, Owners=["self"], Filters=filters)["Images"]


def get_volume(client: Any, volume_id: str) -> Optional[Dict[str, Any]]:
    try:
        volumes = client.describe_volumes(aws_retry=True, VolumeIds=[volume_id])["Volumes"]
    except is_boto3_error_code(["InvalidVolume.NotFound", "InvalidParameterValue"]):
        return None
    volumes = [volume for volume in volumes if volume["State"] not in GONE_VOLUME_STATES]
    return volumes[0] if volumes else None


def get_volumes(client: Any, volume_ids: List[str]) -> List[Dict[str, Any]]:
    if not volume_ids:
        return []
    return client.describe_volumes(aws_retry=True, VolumeIds=volume_ids)["Volumes"]


@AWSRetry.jittered_backoff(retries=10)
def find_volumes(client: Any, filters: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    paginator = client.get_paginator("describe_volumes")
    volumes = paginator.paginate(Filters=filters).build_full_result()["Volumes"]
    return [volume for volume in volumes if volume["State"] not in GONE_VOLUME_STATES]


def get_snapshot(client: Any, snapshot_id: str) -> Optional[Dict[str, Any]]:
    try:
        snapshots = client.describe_snapshots(aws_retry=True, SnapshotIds=[snapshot_id])["Snapshots"]
    except is_boto3_error_code(["InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed", "InvalidParameterValue"]):
        return None
    return snapshots[0] if snapshots else None


@AWSRetry.jittered_backoff(retries=10)
def find_own_snapshots(client: Any, filters: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    paginator = client.get_paginator("describe_snapshots")
    snapshots = paginator.paginate(OwnerIds=["self"], Filters=filters).build_full_result()["Snapshots"]
    return [snapshot for snapshot in snapshots if snapshot["State"] not in GONE_SNAPSHOT_STATES]


def create_volume(client: Any, **params: Any) -> Dict[str, Any]:
    return client.create_volume(aws_retry=True, **params)


def attach_volume(client: Any, volume_id: str, instance_id: str, device_name: str) -> Dict[str, Any]:
    return client.attach_volume(aws_retry=True, VolumeId=volume_id, InstanceId=instance_id, Device=device_name)


def detach_volume(client: Any, volume_id: str, instance_id: str) -> Dict[str, Any]:
    return client.detach_volume(aws_retry=True, VolumeId=volume_id, InstanceId=instance_id)


def delete_volume(client: Any, volume_id: str) -> None:
    client.delete_volume(aws_retry=True, VolumeId=volume_id)


def create_snapshot(client: Any, volume_id: str, description: str, tag_specifications: List[Dict[str, Any]]) -> Dict[str, Any]:
    return client.create_snapshot(aws_retry=True, VolumeId=volume_id, Description=description, TagSpecifications=tag_specifications)


def delete_snapshot(client: Any, snapshot_id: str) -> None:
    client.delete_snapshot(aws_retry=True, SnapshotId=snapshot_id)


def register_image(client: Any, **params: Any) -> str:
    return client.register_image(aws_retry=True, **params)["ImageId"]


def deregister_image(client: Any, image_id: str) -> None:
    client.deregister_image(aws_retry=True, ImageId=image_id)


def run_instance(client: Any, **params: Any) -> Dict[str, Any]:
    return client.run_instances(aws_retry=True, MinCount=1, MaxCount=1, **params)["Instances"][0]


def terminate_instances(client: Any, instance_ids: List[str]) -> None:
    client.terminate_instances(aws_retry=True, InstanceIds=instance_ids)


def console_output(client: Any, instance_id: str) -> str:
    """The instance's serial console output, decoded ('' when there is none yet)."""
    return client.get_console_output(aws_retry=True, InstanceId=instance_id).get("Output", "") or ""


def stop_instance(client: Any, instance_id: str) -> None:
    client.stop_instances(aws_retry=True, InstanceIds=[instance_id])


def start_instance(client: Any, instance_id: str) -> None:
    client.start_instances(aws_retry=True, InstanceIds=[instance_id])


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""
