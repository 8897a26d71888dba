# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the guest roles use to inspect an image and rewrite its boot configuration.

The logic lives in plugins/plugin_utils: guest_config.py (boot configuration text), guest_support.py (which guests can be
converted), guest_kernels.py (the image's kernels and the default one), grub_menu.py (which kernel a GRUB menu boots) and
package_source.py (where the image's package manager gets GRUB from).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.cloudops.pv2hvm.plugins.plugin_utils import grub_menu, guest_config, guest_kernels, guest_network, guest_support, package_source


def _wrap(function):
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ValueError as error:
            raise AnsibleFilterError(str(error)) from error
    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


class FilterModule:
    """The filters of the guest roles; see each one's documentation in plugins/filter/<name>.yml."""

    def filters(self):
        return {
            "fstab_plan": _wrap(guest_config.fstab_plan),
            "data_volume_ids": _wrap(guest_config.data_volume_ids),
            "kernel_args": _wrap(guest_config.kernel_args),
            "menu_lst_hvm": _wrap(guest_config.menu_lst_hvm),
            "menu_default_args": _wrap(guest_config.menu_default_args),
            "os_identity": _wrap(guest_config.os_identity),
            "os_support": _wrap(guest_support.os_support),
            "release_files": _wrap(guest_support.release_files),
            "kernel_interface_names": _wrap(guest_network.kernel_interface_names),
            "persistent_net_rules": _wrap(guest_network.persistent_net_rules),
            "shell_var": _wrap(guest_config.shell_var),
            "module_availability": _wrap(guest_config.module_availability),
            "initramfs_modules": _wrap(guest_config.initramfs_modules),
            "boot_readiness": _wrap(guest_config.boot_readiness),
            "set_shell_vars": _wrap(guest_config.set_shell_vars),
            "kernel_inventory": _wrap(guest_kernels.kernel_inventory),
            "nvme_io_timeout_arg": _wrap(guest_kernels.io_timeout_arg),
            "fit_nvme_io_timeout": _wrap(guest_kernels.fit_io_timeout),
            "grub_default_kernel": _wrap(grub_menu.default_kernel),
            "package_source": _wrap(package_source.package_source),
            "package_source_problems": _wrap(package_source.check),
        }
