# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one error type for problems the user must fix."""


class Pv2hvmError(Exception):
    """A problem the user must fix. The message names the cause and the next step, and
    modules report it with fail_json as is."""
