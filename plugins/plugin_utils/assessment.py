# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only fleet assessment (playbooks/assess.yml): one verdict per source, and its reports.

The role task (pv2hvm/tasks/assess.yml) finds the sources in each region, runs source_info on every one,
refusals included, and snapshot_usage_info on the migratable ones; here the sources become a list of
(region, kind, id) targets, each result a record - migratable, already HVM or refused, with the reason and
the root's used bytes - and the records CSV, Markdown and a one-line summary. No I/O. Unit-tested in
tests/unit/plugins/test_assessment.py.
"""

from __future__ import annotations

import csv
import io

GIB_MIB = 1024
MIB = 1024**2
GIB = 1024**3
VERDICTS = ("migratable", "already-hvm", "refused")
# Columns of the CSV and Markdown reports, in order.
COLUMNS = ("source", "region", "kind", "name", "verdict", "reason", "architecture", "root_gib", "used_bytes",
           "used_bytes_basis", "destination_gib", "data_volumes", "instance_store", "kernel_id", "suggested_instance_type",
           "estimated_minutes", "estimated_migration_usd", "estimated_ami_usd_per_month")
# What the estimates assume unless told otherwise (pv2hvm_assess_assumptions): the copy's rate (applied to the
# root's used bytes where its snapshot was measured, else to the whole volume), the fixed time of a migration
# (snapshot, staging, GRUB and initramfs, registration, test boot), and gp3 volume and snapshot prices in USD
# per GiB-month.
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


def estimates(root_gib, dest_gib, assumptions=None, copy_bytes=None):
    """{estimated_minutes, estimated_migration_usd, estimated_ami_usd_per_month} of one migration.

    The copy moves `copy_bytes` (the root's used bytes), or the whole root volume when they are unknown.
    The migration's EBS cost is its two temporary volumes (working copy and destination) for its
    duration; the AMI's is its root snapshot per month, counted full (an upper bound)."""
    rates = dict(ASSUMPTIONS, **(assumptions or {}))
    copy_mib = root_gib * GIB_MIB if copy_bytes is None else copy_bytes / MIB
    minutes = rates["fixed_minutes"] + copy_mib / rates["copy_mib_per_second"] / 60
    volume_hours = (root_gib + dest_gib) * minutes / 60
    return {
        "estimated_minutes": round(minutes),
        "estimated_migration_usd": round(volume_hours * rates["volume_usd_per_gib_month"] / HOURS_PER_MONTH, 4),
        "estimated_ami_usd_per_month": round(dest_gib * rates["snapshot_usd_per_gib_month"], 2),
    }


def used_bytes(usage, root_gib):
    """(the root's used bytes, what that figure rests on) from a snapshot_usage_info result: the snapshot's
    written blocks, or the whole volume with the reason it could not be measured."""
    usage = usage or {}
    if usage.get("used_bytes") is not None:
        taken = " taken %s" % usage["snapshot_start_time"] if usage.get("snapshot_start_time") else ""
        return int(usage["used_bytes"]), "%d blocks of %d bytes in %s%s" % (
            usage.get("blocks", 0), usage.get("block_size", 0), usage.get("snapshot_id", ""), taken)
    reason = " ".join(str(usage.get("reason") or usage.get("msg") or "not measured").split())
    return root_gib * GIB, "whole volume: " + reason


def assess_source(result, source, kind, table_mib=1, headroom_mib=512, nitro_type="t3.micro", xen_type="t2.micro",
                  assumptions=None, region="", usage=None):
    """One record from a source_info result (`result`, a failed one included) for `source` ("instance"/"image")
    found in `region`.

    assumptions: overrides of ASSUMPTIONS for the estimates (migratable sources only).
    usage: the snapshot_usage_info result of the source's root (migratable sources only)."""
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
    used, basis = used_bytes(usage, root) if dest else (0, "")
    record = {
        "source": source, "region": region or "", "kind": kind, "name": info.get("name", ""), "verdict": verdict,
        "reason": reason, "architecture": architecture, "root_gib": root, "used_bytes": used, "used_bytes_basis": basis,
        "destination_gib": dest,
        "data_volumes": data, "instance_store": ephemeral, "kernel_id": info.get("kernel_id", ""),
        "suggested_instance_type": suggested,
    }
    record.update(estimates(root, dest, assumptions, used) if dest else
                  {"estimated_minutes": 0, "estimated_migration_usd": 0, "estimated_ami_usd_per_month": 0})
    return record


def _found(results, key, id_key, pv_only):
    """{region: [id]} from the looped ec2_instance_info or ec2_ami_info results (item = the region)."""
    found = {}
    for result in results or []:
        if result.get("skipped") or result.get("failed"):
            continue
        listed = result.get(key) or []
        found.setdefault(result["item"], []).extend(
            entry[id_key] for entry in listed if not pv_only or entry.get("virtualization_type") == "paravirtual")
    return found


def assessment_targets(regions, instance_ids, image_ids, discovered_instances=None, discovered_images=None,
                       located_instances=None, located_images=None):
    """[{region, kind, id, missing}] to assess: every discovered PV source in its region, and the given ids.

    With one region the given ids are taken there (source_info says if one is not found). With several, each
    given id is taken in every region where the lookup (located_*) found it; one found in none is a target
    with region "" and `missing`, the reason, so that it becomes a refused record and no call is made for it.
    discovered_* and located_* are the registered results of ec2_instance_info / ec2_ami_info looped over
    the regions."""
    regions = [region or "" for region in regions or [""]]
    targets, seen = [], set()

    def add(region, kind, source, missing=""):
        if (region, kind, source) not in seen:
            seen.add((region, kind, source))
            targets.append({"region": region, "kind": kind, "id": source, "missing": missing})

    for kind, given, located, discovered, id_key, key in (
            ("instance", instance_ids, located_instances, discovered_instances, "instance_id", "instances"),
            ("image", image_ids, located_images, discovered_images, "image_id", "images")):
        found = _found(located, key, id_key, pv_only=False)
        for source in given or []:
            if len(regions) == 1:
                add(regions[0], kind, source)
                continue
            where = [region for region in regions if source in found.get(region, [])]
            for region in where:
                add(region, kind, source)
            if not where:
                add("", kind, source, "%s %s was not found in any of the regions %s. Check the ID, the regions and the "
                    "credentials' account." % (kind, source, ", ".join(regions)))
        for region, sources in _found(discovered, key, id_key, pv_only=True).items():
            for source in sources:
                add(region, kind, source)
    return targets


def verdict_counts(records):
    """{verdict: count}, every verdict present."""
    counts = {verdict: 0 for verdict in VERDICTS}
    for record in records or []:
        counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
    return counts


def region_counts(records):
    """{region: {verdict: count}}, regions in the order of their first record ("" for sources found nowhere)."""
    regions = {}
    for record in records or []:
        regions.setdefault(record.get("region", ""), []).append(record)
    return {region: verdict_counts(found) for region, found in regions.items()}


def _counted(counts):
    return ", ".join("%d %s" % (count, verdict) for verdict, count in counts.items() if count) or "none"


def assessment_summary(records):
    """One line: the sources, counted by verdict, then by region."""
    counts = verdict_counts(records)
    by_region = "; ".join("%s: %s" % (region or "found in no region", _counted(found))
                          for region, found in region_counts(records).items())
    return "%d sources: %s. By region - %s." % (
        len(records or []), ", ".join("%d %s" % (count, verdict) for verdict, count in counts.items()), by_region or "none")


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
    """The records as a Markdown table, with the counts by verdict, then by region, above it."""
    counts = verdict_counts(records)
    lines = ["# PV to HVM assessment", "",
             ", ".join("%s: %d" % (verdict, count) for verdict, count in counts.items()), ""]
    for region, found in region_counts(records).items():
        lines.append("- %s: %s" % (region or "found in no region", _counted(found)))
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for record in records or []:
        lines.append("| " + " | ".join(_cell(record.get(column, "")).replace("|", "\\|") for column in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
