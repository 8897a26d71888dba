# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the read-only fleet assessment (playbooks/assess.yml); the logic is in plugin_utils/assessment.py."""

from __future__ import annotations

from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import assessment


class FilterModule:
    """Targets, verdicts and reports of the assessment."""

    def filters(self):
        return {
            "assessment_targets": assessment.assessment_targets,
            "assess_source": assessment.assess_source,
            "assessment_counts": assessment.verdict_counts,
            "assessment_summary": assessment.assessment_summary,
            "assessment_csv": assessment.assessment_csv,
            "assessment_markdown": assessment.assessment_markdown,
        }
