"""The diff writers beyond the command's own tests: escaping, the comment size cap, JSON shape,
and the routing section inside the ``meshrc check`` markdown comment."""

from __future__ import annotations

import json

from reconciler.diffs import Change, HostChanges, RoutingDiff
from reconciler.findings import Report
from reconciler.output import markdown
from reconciler.output.context import OutputContext
from reconciler.output.diff_writers import (
    MAX_MARKDOWN_CHANGES,
    routing_section,
    write_json,
    write_markdown,
    write_text,
)

CONTEXT = OutputContext(base="a" * 40, head="b" * 40)
HOSTILE = Change(
    kind="match-added",
    resource="VirtualService/shop/x",
    summary="new match headers x=\x1b[31mred | <b>*bold*</b> -> v1 (rule 0)",
    after={"x": 1},
)


def one_host(*changes: Change, host: str = "x.shop.svc.cluster.local") -> RoutingDiff:
    return RoutingDiff(hosts=[HostChanges(host=host, changes=list(changes))])


def test_text_escapes_control_characters() -> None:
    text = write_text(one_host(HOSTILE), CONTEXT)
    assert "\x1b" not in text
    assert "    new match headers x=\\x1b[31mred | <b>*bold*</b> -> v1 (rule 0)\n" in text


def test_markdown_escapes_markup_and_html() -> None:
    md = write_markdown(one_host(HOSTILE), CONTEXT)
    assert (
        "  - new match headers x=\\\\x1b\\[31mred \\| &lt;b&gt;\\*bold\\*&lt;/b&gt; -&gt; v1" in md
    )
    assert md.endswith("_between base aaaaaaaaaaaa and head bbbbbbbbbbbb._\n")


def test_markdown_caps_the_number_of_changes() -> None:
    many = [HOSTILE.model_copy(update={"summary": f"change {i}"}) for i in range(250)]
    section = routing_section(one_host(*many))
    assert section.count("\n  - change ") == MAX_MARKDOWN_CHANGES
    assert section.endswith("_...and 50 more; `meshrc diff` lists all._")


def test_json_has_the_commits_and_every_field() -> None:
    document = json.loads(write_json(one_host(HOSTILE), CONTEXT))
    assert document == {
        "base": "a" * 40,
        "head": "b" * 40,
        "hosts": [
            {
                "host": "x.shop.svc.cluster.local",
                "changes": [
                    {
                        "kind": "match-added",
                        "resource": "VirtualService/shop/x",
                        "summary": HOSTILE.summary,
                        "before": None,
                        "after": {"x": 1},
                    }
                ],
            }
        ],
    }


def test_the_check_comment_ends_with_the_routing_section() -> None:
    section = routing_section(one_host(HOSTILE))
    context = OutputContext(base="a" * 40, head="b" * 40, extra_sections=[section])
    comment = markdown.write(Report.build([]), context)
    assert comment.endswith(
        "### Routing changes\n\n**x.shop.svc.cluster.local**\n\n- VirtualService shop/x\n"
        "  - new match headers x=\\\\x1b\\[31mred \\| &lt;b&gt;\\*bold\\*&lt;/b&gt; -&gt; v1 "
        "(rule 0)\n"
    )
