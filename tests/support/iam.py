"""The actions docs/iam-policy.json (the migration) and docs/iam-policy-assess.json (the assessment) allow."""

from __future__ import annotations

import json

from tests.support.modules import REPO_ROOT

# Needed for TagSpecifications on create calls; never sent as a call of its own.
IMPLIED_ACTIONS = {"CreateTags"}


def policy_actions(prefix: str = "Pv2hvmModules", document: str = "iam-policy.json") -> set[str]:
    """EC2 action names (without `ec2:`) of the statements of docs/`document` whose Sid starts with `prefix`."""
    policy = json.loads((REPO_ROOT / "docs" / document).read_text(encoding="utf-8"))
    actions: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Sid"].startswith(prefix):
            listed = statement["Action"]
            actions.update(a.split(":", 1)[1] for a in ([listed] if isinstance(listed, str) else listed))
    return actions
