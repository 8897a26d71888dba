# cloudops.pv2hvm — developer and CI entry points. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

# The checkout, seen as the installed collection cloudops.pv2hvm (a symlink, for
# ansible-playbook and pytest) and as a plain copy (ansible-test refuses symlinked roots).
COLLECTIONS := .build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/cloudops/pv2hvm
SANITY_TREE := .build/sanity/ansible_collections
SANITY_ROOT := $(SANITY_TREE)/cloudops/pv2hvm
# ansible-test fetches a pip bootstrap script from a host CI cannot reach; see the script.
ANSIBLE_TEST_PIP_BOOTSTRAP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
SITE_PACKAGES = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

PYTEST_ARGS ?=
# Two pytest workers: the suite mixes waiting (module processes, apt in a chroot) with CPU (qemu).
# loadgroup: each worker takes the next test (or xdist_group) when it is free; tests/conftest.py orders them
# longest first by tests/durations.json, so that both workers end together on short tests.
PYTEST_WORKERS ?= 2
# The bindep.txt profile `make setup` installs; `make ee` installs the `ee` profile the same way.
BINDEP_PROFILE ?= test

.PHONY: help setup system-packages collection-link test check lint yamllint ansible-lint sanity unit \
        integration pytest build demo bench faults ee clean

help:
	@echo "make setup     create .venv, install system packages (bindep.txt), link the collection"
	@echo "make test      setup, then every gate: yamllint, ansible-lint, ansible-test sanity, pytest"
	@echo "make check     the edit loop's fast tier: lint, sanity, unit tests (no root, no qemu, no image builds)"
	@echo "make lint      yamllint + ansible-lint --profile production"
	@echo "make sanity    ansible-test sanity on a copy of the collection"
	@echo "make unit      pytest tests/unit (no root needed)"
	@echo "make demo      migrate the lab's Debian PV instance to HVM and boot the result (IDE and NVMe)"
	@echo "make build     ansible-galaxy collection build into .build/dist"
	@echo "make ee        (root) build the AWX execution environment offline (podman, Debian base); prints the build time"
	@echo "make bench     (root) disk_clone against dd on 4 GiB ext4 and xfs sources; fails if a target is missed"
	@echo "make faults    the EC2 fault matrix: one line per step and fault (outcome, seconds, leaked resources)"

setup: $(BIN)/.installed system-packages collection-link

# The venv's interpreter also caches the bytecode of what it imports from zip files (every Ansible module run's
# payload): tests/support/zip_bytecode_cache.py says why.
$(BIN)/.installed: test-requirements.txt tests/constraints.txt tests/support/zip_bytecode_cache.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r test-requirements.txt
	site="$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
	cp tests/support/zip_bytecode_cache.py "$$site/pv2hvm_zip_bytecode_cache.py"; \
	echo "import pv2hvm_zip_bytecode_cache" > "$$site/pv2hvm_zip_bytecode_cache.pth"
	touch $@

system-packages: $(BIN)/.installed
	@missing="$$($(BIN)/bindep --brief --file bindep.txt $(BINDEP_PROFILE) || true)"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages: $$missing"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

collection-link:
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn ../../../.. $(COLLECTION_LINK)

test: setup
	$(MAKE) --no-print-directory lint sanity pytest

# The fast tier for the edit loop: what needs neither root nor qemu nor a lab image. `make test` is the gate.
check: setup
	$(MAKE) --no-print-directory lint sanity unit

lint: yamllint ansible-lint

yamllint: setup
	yamllint --strict .

ansible-lint: setup
	ansible-lint --profile production --strict

sanity: setup
	rm -rf .build/sanity
	mkdir -p $(SANITY_ROOT) $(SANITY_TREE)/amazon
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C $(SANITY_ROOT)
	ln -s $(SITE_PACKAGES)/ansible_collections/amazon/aws $(SANITY_TREE)/amazon/aws
	test -f $(ANSIBLE_TEST_PIP_BOOTSTRAP) || install -D -m 0644 tests/sanity/offline_get_pip.py $(ANSIBLE_TEST_PIP_BOOTSTRAP)
	git -C $(SANITY_ROOT) init --quiet  # its own repository: the checkout ignores .build/
	cd $(SANITY_ROOT) && ansible-test sanity --venv --python 3.11 --color no

unit: setup
	pytest tests/unit -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

integration: setup
	pytest tests/integration $(PYTEST_ARGS)

pytest: setup
	pytest tests -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

demo: setup
	python -m tests.lab.demo

# A benchmark, not a test: timings never gate `make test`.
bench: setup
	python -m tests.bench.disk_clone
	python -m tests.bench.migration

# The EC2 fault matrix, one line per case (the same cases are tests in `make test`);
# FAULTS="unreachable direct" runs only those groups (api, stuck, crash, direct, unreachable).
faults: setup
	python -m tests.bench.faults $(FAULTS)

build: setup
	mkdir -p .build/dist
	ansible-galaxy collection build --force --output-path .build/dist .

# The execution environment, offline: a Debian base from mmdebstrap instead of awx-ee (tests/lab/ee.py).
ee: setup build
	$(MAKE) --no-print-directory system-packages BINDEP_PROFILE=ee
	python -m tests.lab.ee

clean:
	rm -rf .build .pytest_cache
