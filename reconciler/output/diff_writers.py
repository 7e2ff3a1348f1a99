"""Writers of a :class:`~reconciler.diffs.RoutingDiff`: text, a PR comment, JSON.

Like the findings writers they only format: the same diff and context give the same bytes.
Text and markdown group a host's changes by resource, so that a sentence need not repeat
which object it is about. Summaries quote manifest content: control characters are escaped
in text, markup and HTML in markdown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import groupby

from reconciler.diffs import Change, HostChanges, RoutingDiff
from reconciler.output.common import plain, plural, visible
from reconciler.output.context import OutputContext
from reconciler.output.markdown import cell
from reconciler.output.text import ansi

MARKER = "<!-- meshrc-diff -->"
SECTION_TITLE = "### Routing changes"
MAX_MARKDOWN_CHANGES = 200
"""Changes listed in a PR comment (GitHub rejects comments over 65,536 characters)."""


def resource_label(resource: str) -> str:
    """``VirtualService/shop/reviews`` as people write it: ``VirtualService shop/reviews``."""
    kind, _, name = resource.partition("/")
    return f"{kind} {name}"


def _by_resource(host: HostChanges) -> Iterator[tuple[str, list[Change]]]:
    for resource, changes in groupby(host.changes, key=lambda c: c.resource):
        yield resource, list(changes)


def _commits(context: OutputContext) -> str:
    """``between base B and head H`` with short ids."""
    return f"between base {(context.base or '?')[:12]} and head {(context.head or '?')[:12]}"


def _verdict(diff: RoutingDiff) -> str:
    if not diff.hosts:
        return "No routing changes"
    changes = sum(len(h.changes) for h in diff.hosts)
    return f"{plural(changes, 'routing change')} for {plural(len(diff.hosts), 'host')}"


def write_text(diff: RoutingDiff, context: OutputContext) -> str:
    style = ansi if context.color else plain
    blocks = []
    for host in diff.hosts:
        lines = [style("bold", visible(host.host, keep=""))]
        for resource, changes in _by_resource(host):
            lines.append(f"  {style('dim', visible(resource_label(resource), keep=''))}")
            lines += [f"    {visible(c.summary, keep='')}" for c in changes]
        blocks.append("\n".join(lines))
    blocks.append(f"{_verdict(diff)} {_commits(context)}.")
    return "\n\n".join(blocks) + "\n"


def routing_section(diff: RoutingDiff) -> str:
    """The "Routing changes" section of a PR comment: per host, per resource, one bullet a
    change; ``meshrc check -o markdown`` appends it when comparing two commits."""
    if not diff.hosts:
        return f"{SECTION_TITLE}\n\nNo routing changes."
    blocks, shown = [SECTION_TITLE], 0
    for host in diff.hosts:
        lines = []
        for resource, changes in _by_resource(host):
            room = changes[: MAX_MARKDOWN_CHANGES - shown]
            shown += len(room)
            if room:
                lines.append(f"- {cell(resource_label(resource))}")
                lines += [f"  - {cell(c.summary)}" for c in room]
        if lines:
            blocks.append(f"**{cell(host.host)}**\n\n" + "\n".join(lines))
    total = sum(len(h.changes) for h in diff.hosts)
    if total > shown:
        blocks.append(f"_...and {total - shown} more; `meshrc diff` lists all._")
    return "\n\n".join(blocks)


def write_markdown(diff: RoutingDiff, context: OutputContext) -> str:
    heading = f"{MARKER}\n## meshrc diff: {_verdict(diff).lower()}"
    return "\n\n".join([heading, routing_section(diff), f"_{_commits(context)}._"]) + "\n"


def write_json(diff: RoutingDiff, context: OutputContext) -> str:
    document = {"base": context.base, "head": context.head, **diff.model_dump(mode="json")}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


DIFF_WRITERS: dict[str, Callable[[RoutingDiff, OutputContext], str]] = {
    "text": write_text,
    "markdown": write_markdown,
    "json": write_json,
}
"""``meshrc diff -o`` formats, in ``--help`` order."""
