"""The report cache: a tree seen before is answered from the cache, a changed one never is."""

from __future__ import annotations

from pathlib import Path

from reconciler.checking import CheckOptions, check_files
from reconciler.findings import Finding, Report
from reconciler.source.loading import directory_files

BROKEN_VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: 70
    - destination: {host: reviews}
      weight: 20
"""


def _tree(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "mesh"
    root.mkdir(exist_ok=True)
    (root / "vs.yaml").write_text(text)
    return root


def _reports(cache: Path) -> list[Path]:
    return sorted((cache / "reports").glob("*.json"))


def test_same_tree_is_answered_from_the_cache(tmp_path: Path) -> None:
    root, cache = _tree(tmp_path, BROKEN_VS), tmp_path / "cache"
    options = CheckOptions(cache_dir=cache)
    first = check_files(directory_files(root), options)
    assert "weights-not-100" in {f.code for f in first.findings}
    [entry] = _reports(cache)
    # Plant a different report under the same key: only a cache hit can return it.
    planted = Report.build([Finding.of("schema", "planted", file="vs.yaml", line=1)])
    entry.write_text(planted.model_dump_json())
    assert check_files(directory_files(root), options) == planted


def test_cached_report_is_identical_to_a_fresh_one(tmp_path: Path) -> None:
    root, cache = _tree(tmp_path, BROKEN_VS), tmp_path / "cache"
    fresh = check_files(directory_files(root), CheckOptions(cache_dir=None))
    check_files(directory_files(root), CheckOptions(cache_dir=cache))
    cached = check_files(directory_files(root), CheckOptions(cache_dir=cache))
    assert cached.model_dump_json() == fresh.model_dump_json()


def test_changed_file_or_options_miss_the_cache(tmp_path: Path) -> None:
    root, cache = _tree(tmp_path, BROKEN_VS), tmp_path / "cache"
    check_files(directory_files(root), CheckOptions(cache_dir=cache))
    [entry] = _reports(cache)
    planted = Report.build([Finding.of("schema", "planted", file="vs.yaml", line=1)])
    entry.write_text(planted.model_dump_json())

    other_options = CheckOptions(cache_dir=cache, default_namespace="other")
    assert check_files(directory_files(root), other_options) != planted
    _tree(tmp_path, BROKEN_VS.replace("weight: 70", "weight: 80"))
    fixed = check_files(directory_files(root), CheckOptions(cache_dir=cache))
    assert fixed != planted
    assert "weights-not-100" not in {f.code for f in fixed.findings}
    assert len(_reports(cache)) == 3


def test_damaged_cache_entry_is_recomputed(tmp_path: Path) -> None:
    root, cache = _tree(tmp_path, BROKEN_VS), tmp_path / "cache"
    options = CheckOptions(cache_dir=cache)
    first = check_files(directory_files(root), options)
    [entry] = _reports(cache)
    entry.write_text("{not json")
    assert check_files(directory_files(root), options) == first
