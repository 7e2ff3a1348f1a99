"""Policy bundles: the kinds a bundle declares it reads, and what the input then carries."""

from __future__ import annotations

import pytest

from reconciler.errors import PolicyError
from reconciler.policy.bundle import PolicyFolder, builtin_folder, load_bundle
from reconciler.policy.engines import _dependencies_first

DECLARED = """\
# METADATA
# title: Routes
# description: >-
#   Reads VirtualServices
#   and Gateways.
# custom:
#   meshrc:
#     input_kinds: [{kinds}]
package team.{name}

deny contains "x" if false
"""
UNDECLARED = """\
# METADATA
# title: Reads whatever it likes
package team.free

deny contains "x" if false
"""


def bundle_of(**modules: str) -> set[str] | None:
    folder = PolicyFolder("team", {f"{k}.rego": v.encode() for k, v in modules.items()})
    kinds = load_bundle([folder]).input_kinds
    return None if kinds is None else set(kinds)


def test_the_kinds_of_every_module_together() -> None:
    assert bundle_of(
        a=DECLARED.format(kinds="VirtualService, Gateway", name="a"),
        b=DECLARED.format(kinds="Service", name="b"),
        c=DECLARED.format(kinds="", name="c"),
    ) == {"VirtualService", "Gateway", "Service"}


def test_one_module_that_declares_nothing_gets_every_kind() -> None:
    assert bundle_of(a=DECLARED.format(kinds="VirtualService", name="a"), free=UNDECLARED) is None
    # An annotation after the package clause is a rule's, not the package's.
    rule_scoped = "package team.late\n\n" + DECLARED.format(kinds="", name="x").split("package")[0]
    assert bundle_of(late=rule_scoped + 'deny contains "x" if false\n') is None


def test_a_declaration_that_is_not_a_list_of_kinds_names_file_and_line() -> None:
    broken = "# a comment first\n\n" + DECLARED.format(kinds="", name="a").replace(
        "input_kinds: []", "input_kinds: VirtualService"
    )
    with pytest.raises(PolicyError, match=r"^team/a\.rego:3: custom\.meshrc\.input_kinds must"):
        bundle_of(a=broken)


def test_the_pack_declares_the_kinds_its_rules_read() -> None:
    kinds = load_bundle([builtin_folder()]).input_kinds
    assert kinds == {"VirtualService", "DestinationRule", "Gateway"}


def test_a_module_is_sent_after_the_packages_it_references() -> None:
    modules = {
        "a_rule.rego": "package team.rule\n\nimport data.team.z_lib\n\nx := z_lib.y\n",
        "m_query.rego": "package q\n\nr := [data.team.rule.x, data.team.z_lib]\n",
        "z_lib.rego": "package team.z_lib\n\ny := data.team.base.v\n",
        "zz_base.rego": "package team.base\n\nv := 1\n",
    }
    assert _dependencies_first(modules) == [
        "zz_base.rego",
        "z_lib.rego",
        "a_rule.rego",
        "m_query.rego",
    ]
