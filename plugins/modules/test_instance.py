#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: test_instance
version_added: 0.1.0
short_description: Prove a new HVM AMI boots - launch it, wait for its status checks, read its console
description:
  - The last step of a PV to HVM migration - launches one instance from the new AMI (tagged
    C(pv2hvm:purpose=test-instance)), waits until it is running and both EC2 status checks pass, and returns
    its serial console output.
  - O(state=absent) terminates the migration's test instance.
  - A re-run finds the test instance it launched by its tags instead of launching another.
author:
  - cloudops maintainers (@cloudops)
options:
  state:
    description:
      - V(present) launches (or finds) the test instance and waits for its checks, V(absent) terminates it.
    type: str
    choices: [present, absent]
    default: present
  migration_id:
    description:
      - The migration the instance belongs to; tagged as C(pv2hvm:migration).
    type: str
    required: true
  image_id:
    description:
      - The HVM AMI to launch. Required with O(state=present).
    type: str
  instance_type:
    description:
      - The instance type. Use a Nitro type (for example V(t3.micro)) when the image has ENA and NVMe support,
        otherwise a Xen HVM type (for example V(t2.micro)).
    type: str
    default: t3.micro
  subnet_id:
    description:
      - The subnet to launch into; the account's default subnet when unset.
    type: str
  security_group_ids:
    description:
      - Security groups for the instance.
    type: list
    elements: str
    default: []
  key_name:
    description:
      - An EC2 key pair to allow logging in for a closer look.
    type: str
  tags:
    description:
      - Extra tags for the instance. The C(pv2hvm:) tags are always set and win over these.
    type: dict
    default: {}
  wait_timeout:
    description:
      - How many seconds to wait for the instance to run and for its status checks to pass (each).
    type: int
    default: 900
notes:
  - Supports check mode, which reports what would be launched or terminated.
seealso:
  - module: cloudops.pv2hvm.hvm_image
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Boot the new AMI once, on a Nitro type when the image is ready for it
  cloudops.pv2hvm.test_instance:
    migration_id: "{{ pv2hvm_migration_id }}"
    image_id: "{{ pv2hvm_image.image_id }}"
    instance_type: "{{ 't3.micro' if boot_config_readiness.nitro_ready else 't2.micro' }}"
    subnet_id: subnet-0123456789abcdef0
  register: pv2hvm_test

- name: Show the last lines of its console
  ansible.builtin.debug:
    msg: "{{ pv2hvm_test.console_output.splitlines()[-20:] }}"

- name: Terminate it
  cloudops.pv2hvm.test_instance:
    migration_id: "{{ pv2hvm_migration_id }}"
    state: absent
"""

RETURN = r"""
instance_id:
  description: The test instance (empty when there is none).
  returned: always
  type: str
  sample: i-0123456789abcdef0
instance_type:
  description: Its instance type.
  returned: when O(state=present)
  type: str
  sample: t3.micro
status_checks:
  description: The instance and system status check results once they passed.
  returned: when O(state=present) and not in check mode
  type: dict
  sample: {"instance": "ok", "system": "ok"}
console_output:
  description: The serial console output of the instance.
  returned: when O(state=present) and not in check mode
  type: str
"""

from typing import Any, Dict, Optional

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import console_output
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import ec2_client
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import fail_aws
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import find_instances
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import get_image
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import run_instance
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.ec2 import terminate_instances
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_filters
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import migration_tags
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.tagging import tag_specifications
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import WaitTimeout
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.waiters import wait_for

PURPOSE = "test-instance"


def find_test_instance(client: Any, migration_id: str) -> Optional[Dict[str, Any]]:
    found = find_instances(client, migration_filters(migration_id, PURPOSE))
    return found[0] if found else None


def launch(module: AnsibleAWSModule, client: Any) -> Dict[str, Any]:
    params = module.params
    image = get_image(client, params["image_id"])
    if image is None:
        raise Pv2hvmError(f"AMI {params['image_id']} does not exist. Pass the image_id that hvm_image returned.")
    if image.get("VirtualizationType") != "hvm":
        raise Pv2hvmError(f"AMI {params['image_id']} is {image.get('VirtualizationType')}, not hvm: there is nothing to prove by booting it here.")
    tags = migration_tags(params["migration_id"], PURPOSE, params["tags"])
    tags.setdefault("Name", f"pv2hvm {params['migration_id']} test")
    request: Dict[str, Any] = {
        "ImageId": params["image_id"],
        "InstanceType": params["instance_type"],
        "TagSpecifications": tag_specifications("instance", tags) + tag_specifications("volume", tags),
    }
    if params["subnet_id"]:
        request["SubnetId"] = params["subnet_id"]
    if params["security_group_ids"]:
        request["SecurityGroupIds"] = params["security_group_ids"]
    if params["key_name"]:
        request["KeyName"] = params["key_name"]
    return run_instance(client, **request)


def ensure_present(module: AnsibleAWSModule, client: Any) -> Dict[str, Any]:
    instance = find_test_instance(client, module.params["migration_id"])
    changed = instance is None
    if module.check_mode:
        return {"changed": changed, "instance_id": instance["InstanceId"] if instance else "", "instance_type": module.params["instance_type"]}
    if instance is None:
        if not module.params["image_id"]:
            raise Pv2hvmError("Launching a test instance needs image_id (the new HVM AMI).")
        instance = launch(module, client)
    instance_id = instance["InstanceId"]
    timeout = module.params["wait_timeout"]
    wait_for(client, "instance_running", timeout, InstanceIds=[instance_id])
    wait_for(client, "instance_status_ok", timeout, InstanceIds=[instance_id])
    wait_for(client, "system_status_ok", timeout, InstanceIds=[instance_id])
    return {
        "changed": changed,
        "instance_id": instance_id,
        "instance_type": instance["InstanceType"],
        "status_checks": {"instance": "ok", "system": "ok"},
        "console_output": console_output(client, instance_id),
    }


def ensure_absent(module: AnsibleAWSModule, client: Any) -> Dict[str, Any]:
    instance = find_test_instance(client, module.params["migration_id"])
    if instance is None:
        return {"changed": False, "instance_id": ""}
    if not module.check_mode:
        terminate_instances(client, [instance["InstanceId"]])
        wait_for(client, "instance_terminated", module.params["wait_timeout"], InstanceIds=[instance["InstanceId"]])
    return {"changed": True, "instance_id": instance["InstanceId"]}


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            migration_id=dict(type="str", required=True),
            image_id=dict(type="str"),
            instance_type=dict(type="str", default="t3.micro"),
            subnet_id=dict(type="str"),
            security_group_ids=dict(type="list", elements="str", default=[]),
            key_name=dict(type="str"),
            tags=dict(type="dict", default={}),
            wait_timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    client = ec2_client(module)
    try:
        result = ensure_present(module, client) if module.params["state"] == "present" else ensure_absent(module, client)
    except Pv2hvmError as error:
        module.fail_json(msg=str(error))
    except WaitTimeout as error:
        module.fail_json(
            msg=f"The test instance did not pass: {error}. Look at its console output (EC2 console, Get system log) to see where the boot stopped."
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        fail_aws(module, error, f"EC2 refused a test-instance operation (state {module.params['state']})")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
