"""tests/boot_matrix.py is true: each claim's test exists and boots what it says, every IDE claim not booted is covered
by a booted one of its kind, and README.md's support matrix claims exactly what the matrix holds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.boot_matrix import BOOTS_BEFORE, CLAIMS, CLAIMS_BEFORE, Claim

REPO_ROOT = Path(__file__).resolve().parents[2]


def function_node(test: str) -> ast.FunctionDef:
    path, name = test.split("::")
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    found = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name]
    assert found, f"{test}: no such test"
    return found[0]


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else call.func.attr if isinstance(call.func, ast.Attribute) else ""


def buses_booted(test: str) -> set[str]:
    """The buses the test boots a converted image on: boot(disk, BUS) (not the unconverted `image.disk`, the negative
    control), loops over BUSES or a tuple of buses, boots_as_hvm(..., buses=...) and the demo (PV2HVM_DEMO_BUSES)."""
    node = function_node(test)
    found: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.For) and isinstance(item.iter, (ast.Tuple, ast.List)):
            found |= {element.value for element in item.iter.elts if isinstance(element, ast.Constant)}
        if isinstance(item, ast.For) and ast.unparse(item.iter).endswith("BUSES"):
            found |= {"ide", "nvme"}
        if not isinstance(item, ast.Call):
            continue
        keywords = {keyword.arg: keyword.value for keyword in item.keywords}
        if _name(item) == "boot" and len(item.args) > 1 and not ast.unparse(item.args[0]).endswith("image.disk"):
            # boot(disk, "nvme"); boot(disk, bus) takes its buses from the loop around it.
            found |= {item.args[1].value} if isinstance(item.args[1], ast.Constant) else set()
        elif _name(item) == "boots_as_hvm":
            found |= set(ast.literal_eval(keywords["buses"])) if "buses" in keywords else {"ide", "nvme"}
        elif _name(item) == "run_demo" or "'tests.lab.demo'" in ast.unparse(item):
            chosen = keywords.get("PV2HVM_DEMO_BUSES")
            found |= set(ast.literal_eval(chosen).split(",")) if chosen is not None else {"ide", "nvme"}
    # A test parametrized over the buses boots each (test_converted_image_boots).
    for decorator in node.decorator_list:
        if "BUSES" in ast.unparse(decorator):
            found |= {"ide", "nvme"}
    return found


@pytest.mark.parametrize("claim", CLAIMS, ids=[f"{c.shape}-{c.bus}-{c.method}" for c in CLAIMS])
def test_each_claim_names_a_test_that_boots_it_on_its_bus(claim: Claim) -> None:
    booted = buses_booted(claim.test)
    assert (claim.bus in booted) == claim.booted, (
        f"{claim.test} boots on {sorted(booted) or 'no bus'}; the matrix says its {claim.bus} claim is "
        f"{'booted' if claim.booted else 'covered by another boot'}")


def test_every_covered_ide_claim_has_a_booted_ide_claim_of_its_kind() -> None:
    booted = {claim.kind for claim in CLAIMS if claim.bus == "ide" and claim.booted}
    uncovered = [claim for claim in CLAIMS if not claim.booted and (claim.bus != "ide" or claim.kind not in booted)]
    assert uncovered == [], uncovered


def test_the_matrix_keeps_every_claim_it_had_and_boots_less() -> None:
    assert len(CLAIMS) >= CLAIMS_BEFORE
    assert sum(claim.booted for claim in CLAIMS) < BOOTS_BEFORE


def readme_rows() -> list[list[str]]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Support matrix\n", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in section.splitlines() if line.startswith("| ")]
    return [row for row in rows[2:] if len(row) == 4]  # below the header and its rule


def matrix_row(row: list[str], keys: set[str]) -> str:
    """The matrix's README key a support-matrix row falls under: the longest whose source and filesystem match."""
    matching = [key for key in keys if row[0].startswith(key.split(" | ")[0]) and row[2].startswith(key.split(" | ")[1])]
    return max(matching, key=len) if matching else ""


def test_the_readme_support_matrix_claims_what_the_boot_matrix_holds() -> None:
    keys = {claim.readme for claim in CLAIMS}
    verified = {}
    for row in readme_rows():
        if row[3].startswith("boot-verified"):
            key = matrix_row(row, keys)
            assert key, f"README row {row[0]!r} says boot-verified, but tests/boot_matrix.py has no claim for it"
            assert key not in verified, f"two README rows fall under {key!r}"
            verified[key] = row[3]
    assert set(verified) == keys, f"boot matrix rows the README does not call boot-verified: {keys - set(verified)}"
    for key, status in verified.items():
        buses = {claim.bus for claim in CLAIMS if claim.readme == key}
        says_both = status.startswith("boot-verified (IDE and NVMe")
        assert says_both == (buses == {"ide", "nvme"}), f"{key}: the README says {status[:40]!r}, the matrix claims {sorted(buses)}"
