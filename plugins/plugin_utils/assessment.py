# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only fleet assessment (playbooks/assess.yml): one verdict per source, and its reports.

The role task (pv2hvm/tasks/assess.yml) runs source_info on every source, refusals included; here each
result becomes a record - migratable, already HVM or refused, with the reason - and the records become
CSV and Markdown. No I/O. Unit-tested in tests/unit/plugins/test_assessment.py.
"""

from __future__ import annotations

import csv
import io

GIB_MIB = 1024
# Columns of the CSV and Markdown reports, in order.
COLUMNS = ("source", "kind", "name", "verdict", "reason", "architecture", "root_gib", "destination_gib",
           "data_volumes", "instance_store", "kernel_id", "suggested_instance_type", "estimated_minutes",
           "estimated_migration_usd", "estimated_ami_usd_per_month")
# What the estimates assume unless told otherwise (pv2hvm_assess_assumptions): the copy's rate (the whole
# root volume, since its used bytes are unknown here), the fixed time of a migration (snapshot, staging,
# GRUB and initramfs, registration, test boot), and gp3 volume and snapshot prices in USD per GiB-month.
ASSUMPTIONS = {"copy_mib_per_second": 100, "fixed_minutes": 15, "volume_usd_per_gib_month": 0.08,
               "snapshot_usd_per_gib_month": 0.05}
HOURS_PER_MONTH = 730


def _root_gib(info):
    if info.get("root_snapshot"):
        return int(info["root_snapshot"].get("volume_size") or 0)
    for mapping in info.get("block_device_mappings") or []:
        if mapping.get("is_root") and mapping.get("ebs"):
            return int(mapping["ebs"].get("size") or 0)
    return 0


def destination_gib(root_gib, table_mib=1, headroom_mib=512):
    """The HVM root's size as the migration plans it: the next whole GiB holding the partition table, the
    source's root volume (its filesystem may fill it) and the conversion's headroom."""
    return (root_gib * GIB_MIB + table_mib + headroom_mib + GIB_MIB - 1) // GIB_MIB


def estimates(root_gib, dest_gib, assumptions=None):
    """{estimated_minutes, estimated_migration_usd, estimated_ami_usd_per_month} of one migration.

    The migration's EBS cost is its two temporary volumes (working copy and destination) for its
    duration; the AMI's is its root snapshot per month, counted full (an upper bound)."""
    rates = dict(ASSUMPTIONS, **(assumptions or {}))
    minutes = rates["fixed_minutes"] + root_gib * 1024 / rates["copy_mib_per_second"] / 60
    volume_hours = (root_gib + dest_gib) * minutes / 60
    return {
        "estimated_minutes": round(minutes),
        "estimated_migration_usd": round(volume_hours * rates["volume_usd_per_gib_month"] / HOURS_PER_MONTH, 4),
        "estimated_ami_usd_per_month": round(dest_gib * rates["snapshot_usd_per_gib_month"], 2),
    }


def assess_source(result, source, kind, table_mib=1, headroom_mib=512, nitro_type="t3.micro", xen_type="t2.micro",
                  assumptions=None):
    """One record from a source_info result (`result`, a failed one included) for `source` ("instance"/"image").

    assumptions: overrides of ASSUMPTIONS for the estimates (migratable sources only)."""
    info = result or {}
    # The task runs source_info with failed_when: false, which clears `failed`: a refusal is a result with
    # a message (source_info's success has none), with or without the source's facts.
    failed = bool(info.get("failed")) or bool(info.get("msg")) or not info.get("source_type")
    message = " ".join(str(info.get("msg") or "").split())
    if failed and "already HVM" in message:
        verdict = "already-hvm"
    elif failed:
        verdict = "refused"
    else:
        verdict = "migratable"
    mappings = info.get("block_device_mappings") or []
    data = [m["device_name"] for m in mappings if not m.get("is_root") and m.get("ebs")]
    ephemeral = [m["device_name"] for m in mappings if m.get("virtual_name", "").startswith("ephemeral")]
    architecture = info.get("architecture", "")
    root = _root_gib(info)
    # Nitro types run 64-bit AMIs only; a 32-bit one needs a Xen HVM type. Which one the image is ready
    # for (NVMe, ENA) is only known after its conversion.
    suggested = "" if verdict != "migratable" else (xen_type if architecture == "i386" else nitro_type)
    reason = message if failed else (
        "32-bit: Xen HVM instance types only" if architecture == "i386" else "Nitro once the image has NVMe and ENA drivers")
    dest = destination_gib(root, table_mib, headroom_mib) if verdict == "migratable" and root else 0
    record = {
        "source": source, "kind": kind, "name": info.get("name", ""), "verdict": verdict, "reason": reason,
        "architecture": architecture, "root_gib": root,
        "destination_gib": dest,
        "data_volumes": data, "instance_store": ephemeral, "kernel_id": info.get("kernel_id", ""),
        "suggested_instance_type": suggested,
    }
    record.update(estimates(root, dest, assumptions) if dest else
                  {"estimated_minutes": 0, "estimated_migration_usd": 0, "estimated_ami_usd_per_month": 0})
    return record


def verdict_counts(records):
    """{verdict: count}, every verdict present."""
    counts = {"migratable": 0, "already-hvm": 0, "refused": 0}
    for record in records or []:
        counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
    return counts


def _cell(value):
    return " ".join(value) if isinstance(value, list) else str(value)


def assessment_csv(records):
    """The records as CSV (a header row, then one row per source; lists space-separated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records or []:
        writer.writerow([_cell(record.get(column, "")) for column in COLUMNS])
    return out.getvalue()


def assessment_markdown(records):
    """The records as a Markdown table, with the counts by verdict above it."""
    counts = verdict_counts(records)
    lines = ["# PV to HVM assessment", "",
             ", ".join("%s: %d" % (verdict, count) for verdict, count in counts.items()), "",
             "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for record in records or []:
        lines.append("| " + " | ".join(_cell(record.get(column, "")).replace("|", "\\|") for column in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
