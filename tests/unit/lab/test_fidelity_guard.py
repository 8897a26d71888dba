"""The fidelity extension refuses a moto it was not written for."""

from __future__ import annotations

import pytest

from tests.lab import fidelity


def test_install_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A moto upgrade must fail loudly instead of silently testing stock behaviour."""
    monkeypatch.setattr(fidelity.moto, "__version__", "5.3.0")
    with pytest.raises(fidelity.LabFidelityError, match="written for moto 5.2.5, found 5.3.0"):
        fidelity.install()


def test_install_refuses_a_moved_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    """If moto renames a method the extension replaces, install() says so."""

    class Renamed:
        pass

    monkeypatch.setattr(fidelity, "_PATCHES", [(Renamed, "attach_volume", fidelity.attach_volume)])
    with pytest.raises(fidelity.LabFidelityError, match="no longer defines Renamed.attach_volume"):
        fidelity.install()
