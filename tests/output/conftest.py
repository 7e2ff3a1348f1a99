"""Golden files for the writers live in ``golden/``; regenerate them after an intended change:

    python -m pytest tests/output --update-goldens

then read the diff (``git diff tests/output/golden``) before committing: a golden is only as
good as the eye that checked it.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite tests/output/golden/* from the current writers instead of comparing",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens", default=False))
