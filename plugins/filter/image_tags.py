# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the readiness a migration keeps on its AMI; the logic is in plugin_utils/image_tags.py."""

from __future__ import annotations

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import image_tags


class FilterModule:
    """The pv2hvm:readiness tag, written and read."""

    def filters(self):
        return {
            "readiness_tag": image_tags.readiness_tag,
            "readiness_from_tag": image_tags.readiness_from_tag,
        }
