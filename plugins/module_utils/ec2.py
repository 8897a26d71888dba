# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The EC2 calls the AWS-side modules make, one small function each.

`client` is `module.client("ec2", retry_decorator=...)` from `ec2_client()`, so every
call here passes `aws_retry=True` and throttling or eventual-consistency errors are
retried with jittered backoff. Lookups return None (or []) for what does not exist;
everything else raises botocore's ClientError for the module to report.
"""

from __future__ import annotations

import traceback
from typing import Any, Dict, List, Optional

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible.module_utils.common.text.converters import to_native

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
def find_own_snapshots(client: Any, filters: List[Dict[str, Any]], include_failed: bool = False) -> List[Dict[str, Any]]:
    """The account's snapshots matching `filters`; failed ones (error, recoverable) only if asked, e.g. to delete them."""
    paginator = client.get_paginator("describe_snapshots")
    snapshots = paginator.paginate(OwnerIds=["self"], Filters=filters).build_full_result()["Snapshots"]
    return [snapshot for snapshot in snapshots if include_failed or snapshot["State"] not in GONE_SNAPSHOT_STATES]


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


# What to do about the EC2 errors a migration meets in practice; every module adds it to its message.
ADVICE = {
    "RequestLimitExceeded": "EC2 kept throttling the requests after every retry: run it again later, or with fewer --forks.",
    "Throttling": "EC2 kept throttling the requests after every retry: run it again later, or with fewer --forks.",
    "InsufficientInstanceCapacity": (
        "AWS has no capacity for that instance type in that Availability Zone right now: run it again later, or choose "
        "another type (pv2hvm_test_instance_type) or another subnet (pv2hvm_test_subnet_id)."),
    "InstanceLimitExceeded": "The account's instance quota in this Region is reached: stop instances you do not need or raise the quota.",
    "VolumeLimitExceeded": (
        "The account's EBS storage quota in this Region is reached: delete volumes you do not need, or raise the quota in "
        "Service Quotas, then run it again."),
    "SnapshotCreationPerVolumeRateExceeded": (
        "EC2 allows only so many snapshots of one volume in a short time: wait a few minutes and run it again; the "
        "snapshots already taken are reused."),
    "SnapshotLimitExceeded": "The account's snapshot quota in this Region is reached: delete snapshots you do not need or raise the quota.",
    "UnauthorizedOperation": "The credentials lack a permission this step needs: compare them with docs/iam-policy.json.",
}
# Credentials that ran out in the middle of a run (an STS session or an AWX credential lasts an hour).
EXPIRED = "The credentials expired: renew them (a new session, a refreshed credential) and run the same command again; it resumes."
for _code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
    ADVICE[_code] = EXPIRED
ADVICE["AuthFailure"] = ("AWS did not accept the credentials (expired, revoked or wrong): renew them and run the same command again; "
                         "it resumes.")
# No answer at all: the endpoint or the network is gone, nothing was refused.
UNREACHABLE = "AWS did not answer: check the network and the endpoint, then run the same command again; it resumes."


def fail_aws(module: Any, error: Exception, what: str, **extra: Any) -> None:
    """Fail with `what`, EC2's error and, where the error is a known one, what to do about it last."""
    advice = ADVICE.get(error_code(error))
    if not advice and isinstance(error, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                                         botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError)):
        advice = UNREACHABLE
    if not advice:
        module.fail_json_aws(error, msg=what, **extra)
    failure = dict(msg=f"{what}: {to_native(error).rstrip('.')}. {advice}", exception=traceback.format_exc(), **extra)
    failure.update(camel_dict_to_snake_dict(getattr(error, "response", {}) or {}))
    module.fail_json(**failure)
