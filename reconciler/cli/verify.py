"""``meshrc verify``: run the repository's RouteTests through a real Envoy."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.options import (
    color_option,
    namespace_option,
    output_option,
    progress,
    tree_options,
    use_color,
)
from reconciler.output.verify_results import VERIFY_FORMATS, WRITERS
from reconciler.snapshots import state_at
from reconciler.verify.envoy import find_envoy
from reconciler.verify.routetests import route_tests
from reconciler.verify.running import run_route_tests

EPILOG = """
\b
A RouteTest sits next to the routing it tests:
  apiVersion: meshrc.io/v1alpha1
  kind: RouteTest
  metadata: {name: jason-sees-v2, namespace: bookinfo}
  spec:
    proxy: mesh                        # or NAMESPACE/GATEWAY
    request: {authority: reviews, port: 9080, path: /, headers: {end-user: jason}}
    count: 200                         # requests (default 100)
    upstreams: {ratings/v1: {failNext: 2}}    # or {always: 503}, {delay: 2s}
    expect:
      destinations: {reviews/v2: 100}  # percent per host or host/subset
      tolerance: 5                     # percentage points (default 5)
      status: 200                      # or {503: 50, 200: 50}
      latency: {min: 1s}               # every response (or of: p50|p90|p99)
      attempts: {ratings/v1: 3}        # requests the stand-in received
      upstream: {path: /v2/, authority: ratings}   # what reached it
      headers: {location: https://example.com/}    # on every response

\b
Each test renders its proxy's configuration, starts a real Envoy with it and a
loopback stand-in for every service and subset, and sends the requests.

\b
Exit codes: 0 all tests pass, 1 a test fails, 2 could not run (no Envoy,
unreadable repository).

\b
Examples:
  meshrc verify repo-template
  meshrc verify --repo . --ref HEAD -o junit > route-tests.xml
  meshrc verify ./mesh -o github          # annotations on the PR
"""


@click.command(epilog=EPILOG)
@tree_options
@output_option(list(VERIFY_FORMATS))
@namespace_option
@color_option
def verify(
    path: Path | None,
    repo: str | None,
    ref: str | None,
    subdir: str | None,
    output_format: str,
    namespace: str,
    color: str,
) -> None:
    """Run the RouteTests of the manifests against a real Envoy with the rendered config.

    PATH is a folder of manifests (its meshrc.yaml is read); with --repo/--ref, a commit.
    """
    binary = find_envoy()
    state = state_at(path, repo, ref, subdir, namespace).unambiguous()
    tests, invalid = route_tests(state.loaded.documents, namespace)
    results = run_route_tests(state.snapshot, tests, invalid, binary, progress)
    colored = use_color(color, output_format)
    click.echo(WRITERS[output_format](results, colored), nl=False, color=colored)
    sys.exit(0 if all(r.passed for r in results) else 1)
