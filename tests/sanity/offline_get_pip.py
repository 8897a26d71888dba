"""Offline stand-in for the pip bootstrap script ansible-test downloads.

`ansible-test sanity --venv` bootstraps pip into each test virtualenv with a script it
fetches from ci-files.testing.ansible.com, which this project's CI cannot reach (only
PyPI is). The Makefile places this file in ansible-test's cache under the name it
looks for; it does what the real script does: put pip into the running interpreter,
then install the packages it was asked for, from PyPI.
"""

import subprocess
import sys

# Options the real get-pip.py understands but `pip install` does not.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    """Install pip, then the requested packages (e.g. pip==24.2)."""
    # In a child process: ensurepip blanks pip's configuration (PIP_CONFIG_FILE=/dev/null)
    # in the process that runs it, and the install below needs the machine's pip.conf.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    return subprocess.call([sys.executable, "-m", "pip", "install", *arguments])


if __name__ == "__main__":
    sys.exit(main())
