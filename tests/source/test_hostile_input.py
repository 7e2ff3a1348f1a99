"""The loader's guards, one by one: hostile YAML, hostile trees, and a hostile parse cache.

Each guard turns an attack or an accident into a finding (or a cache miss), never into an
exception, a hang, an out-of-memory or code execution.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.checking import CheckOptions, check_files
from reconciler.cli.main import cli
from reconciler.findings import Finding
from reconciler.source import loading
from reconciler.source.documents import (
    DEFAULT_MAX_FILE_BYTES,
    MAX_ALIAS_EXPANSION,
    Chunk,
    DocumentError,
    parse_document,
    split_documents,
)
from reconciler.source.loading import (
    CACHE_FORMAT,
    LoadResult,
    SourceFile,
    directory_files,
    git_blob_id,
    load_files,
)

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: bookinfo
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
"""


def source(path: str, data: bytes) -> SourceFile:
    return SourceFile(path, git_blob_id(data), len(data), lambda: data)


def load(files: dict[str, bytes], **kwargs: Any) -> LoadResult:
    return load_files([source(p, d) for p, d in sorted(files.items())], **kwargs)


def only_finding(result: LoadResult) -> Finding:
    assert len(result.findings) == 1, result.findings
    return result.findings[0]


def bodies(result: LoadResult, file: str) -> list[Any]:
    return [d.body for d in result.documents if d.file == file]


# --------------------------------------------------------------------------- hostile YAML


def test_billion_laughs_is_refused_quickly() -> None:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(rows) + "\n"  # 9**9 = 387,420,489 "lol"s once expanded
    started = time.perf_counter()
    result = load({"bomb.yaml": text.encode()})
    assert time.perf_counter() - started < 5
    finding = only_finding(result)
    assert finding.code == "invalid-yaml"
    assert "alias" in finding.message and str(MAX_ALIAS_EXPANSION) in finding.message
    assert finding.line == 1
    assert result.documents == []


def test_aliases_below_the_bound_are_fine() -> None:
    text = "base: &base {app: reviews}\nlabels: *base\nmore: [*base, *base]\n"
    result = load({"ok.yaml": text.encode()})
    assert result.findings == []
    assert bodies(result, "ok.yaml") == [
        {"base": {"app": "reviews"}, "labels": {"app": "reviews"}, "more": [{"app": "reviews"}] * 2}
    ]


@pytest.mark.parametrize(
    "text", ["a: &x [1, *x]\n", "a: &x {b: *x}\n", "a: &x\n  b: *x\n", "- &x [*x]\n"]
)
def test_recursive_alias_is_a_finding(text: str) -> None:
    finding = only_finding(load({"loop.yaml": text.encode()}))
    assert finding.code == "invalid-yaml"
    assert "recursive" in finding.message
    assert finding.line == 1


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "a: " + "{b: " * 10_000 + "1" + "}" * 10_000 + "\n",
        "".join(" " * i + "k:\n" for i in range(1_000)) + " " * 1_000 + "v: 1\n",
    ],
    ids=["flow-sequences", "flow-mappings", "block-mappings"],
)
def test_deep_nesting_is_a_finding(text: str) -> None:
    result = load({"deep.yaml": b"kind: Before\n---\n" + text.encode()})
    finding = only_finding(result)
    assert finding.code == "invalid-yaml"
    assert "nested" in finding.message
    assert finding.line >= 2
    assert bodies(result, "deep.yaml") == [{"kind": "Before"}]


def test_moderate_nesting_still_parses() -> None:
    text = "a: " + "[" * 50 + "]" * 50 + "\n"
    result = load({"ok.yaml": text.encode()})
    assert result.findings == []
    assert len(result.documents) == 1


def test_duplicate_key_is_reported_at_the_second_key() -> None:
    text = SERVICE + "metadata:\n  name: again\n"  # the second metadata is on line 12
    finding = only_finding(load({"dup.yaml": text.encode()}))
    assert finding.code == "invalid-yaml"
    assert "duplicate key 'metadata'" in finding.message
    assert finding.line == 12


def test_nested_duplicate_key_through_check_files() -> None:
    text = SERVICE.replace("    app: reviews\n", "    app: reviews\n    app: ratings\n")
    report = check_files([source("dup.yaml", text.encode())], CheckOptions())
    assert [(f.code, f.line) for f in report.findings] == [("invalid-yaml", 9)]


def _config_map(size: int) -> bytes:
    head = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: "
    return head + b"x" * (size - len(head) - 1) + b"\n"


def test_file_over_the_limit_is_reported_not_parsed() -> None:
    data = _config_map(6 * 1024 * 1024)
    assert len(data) > DEFAULT_MAX_FILE_BYTES
    read_calls = []

    def read() -> bytes:
        read_calls.append(1)
        return data

    big = SourceFile("big.yaml", git_blob_id(data), len(data), read)
    result = load_files([big, source("small.yaml", SERVICE.encode())])
    finding = only_finding(result)
    assert (finding.code, finding.file, finding.line) == ("invalid-yaml", "big.yaml", 1)
    assert str(len(data)) in finding.message and "--max-file-size" in finding.message
    assert read_calls == []  # not even read
    assert [d.file for d in result.documents] == ["small.yaml"]

    raised = load_files([big], max_file_bytes=7 * 1024 * 1024)
    assert raised.findings == []
    blob = bodies(raised, "big.yaml")[0]["data"]["blob"]
    assert blob == "x" * (len(data) - data.index(b"xxx") - 1)


def test_file_size_limit_through_the_cli(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    (mesh / "big.yaml").write_bytes(_config_map(6 * 1024 * 1024))
    runner = CliRunner()
    cache = ["--cache-dir", str(tmp_path / "cache")]
    refused = runner.invoke(cli, ["check", str(mesh), "-o", "json", *cache])
    assert refused.exit_code == 1, refused.output
    codes = [f["code"] for f in json.loads(refused.output)["findings"]]
    assert codes == ["invalid-yaml"]
    allowed = runner.invoke(
        cli, ["check", str(mesh), "-o", "json", "--max-file-size", "7MiB", *cache]
    )
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.output)["findings"] == []


def test_non_utf8_file_is_a_finding_and_others_still_load() -> None:
    result = load({"latin1.yaml": "name: caf\xe9\n".encode("latin-1"), "ok.yaml": SERVICE.encode()})
    finding = only_finding(result)
    assert (finding.code, finding.file, finding.line) == ("invalid-yaml", "latin1.yaml", 1)
    assert "not UTF-8" in finding.message and "byte 9" in finding.message
    assert [d.file for d in result.documents] == ["ok.yaml"]


def test_utf8_bom_parses_and_lines_stay_right() -> None:
    text = "\ufeff" + SERVICE + "---\nkind: [\n"
    result = load({"bom.yaml": text.encode("utf-8")})
    assert bodies(result, "bom.yaml")[0]["metadata"]["name"] == "reviews"
    assert only_finding(result).line == 13


def test_crlf_line_endings_keep_lines_right() -> None:
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
        subset: v9
"""
    text = (SERVICE + "---\n" + vs + "---\nkey: 1\nkey: 2\n").replace("\n", "\r\n")
    report = check_files([source("crlf.yaml", text.encode())], CheckOptions())
    lines = {f.code: f.line for f in report.findings}
    assert lines == {"subset-not-found": 24, "invalid-yaml": 27}
    loaded = load({"crlf.yaml": text.encode()})
    assert [d.line for d in loaded.documents] == [1, 12]
    assert bodies(loaded, "crlf.yaml")[0]["spec"]["ports"][0]["name"] == "http"  # no \r left


def test_broken_middle_document_costs_only_itself() -> None:
    text = (
        SERVICE
        + "---\nkind: Broken\nspec:\n  a: [1, 2\n  b: 3\n---\n"
        + SERVICE.replace("reviews", "ratings")
    )
    result = load({"three.yaml": text.encode()})
    finding = only_finding(result)
    assert finding.code == "invalid-yaml"
    assert finding.line in (15, 16)  # the unclosed flow sequence, or the line that ends it
    names = [b["metadata"]["name"] for b in bodies(result, "three.yaml")]
    assert names == ["reviews", "ratings"]
    assert [d.index for d in result.documents] == [0, 2]
    assert [d.line for d in result.documents] == [1, 17]


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:os.system ['touch {marker}']",
        "!!python/object:os.system {{}}",
        "!!python/name:os.system",
        "!!python/module:os",
        "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {marker}']",
    ],
)
def test_python_tags_are_findings_never_executed(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    text = f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {tag.format(marker=marker)}\n"
    result = load({"evil.yaml": text.encode()})
    finding = only_finding(result)
    assert finding.code == "invalid-yaml"
    assert "python" in finding.message
    assert finding.line == 4
    assert not marker.exists()


@pytest.mark.parametrize(
    "value",
    [
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "!!timestamp 2001-12-14",
    ],
)
def test_timestamps_stay_strings(value: str) -> None:
    result = load({"ts.yaml": f"created: {value}\n".encode()})
    assert result.findings == []
    assert bodies(result, "ts.yaml") == [{"created": value.removeprefix("!!timestamp ")}]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('a: !!int ""\n', "invalid int"),
        ("a: !!bool maybe\n", "invalid bool"),
        ("a: !!float abc\n", "invalid float"),
        ("a: 0b_\n", "invalid int"),
        ("a: !!map scalar\n", "expected a mapping"),
        ("a: 0x" + "f" * 5000 + "\n", "too large"),
        ("a: " + "1" * 5000 + "\n", "invalid int"),
    ],
)
def test_junk_scalars_are_findings(text: str, problem: str) -> None:
    finding = only_finding(load({"junk.yaml": b"ok: 1\n" + text.encode()}))
    assert finding.code == "invalid-yaml"
    assert problem in finding.message
    assert finding.line == 2


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n# comments\n", "---\n# c\n---\n...\n"])
def test_empty_and_comment_only_files(text: str) -> None:
    result = load({"empty.yaml": text.encode()})
    assert result.findings == []
    assert result.documents == []
    assert result.files == 1


def test_nul_bytes_and_control_characters_are_findings() -> None:
    result = load({"nul.yaml": b"ok: 1\n---\na: b\x00c\n", "bell.yaml": b"a: \x07\n"})
    assert {(f.file, f.line) for f in result.findings} == {("nul.yaml", 2), ("bell.yaml", 1)}
    assert bodies(result, "nul.yaml") == [{"ok": 1}]


# --------------------------------------------------------------------------- hostile trees


def test_directory_files_does_not_follow_symlinks_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("password: hunter2\n")
    root = tmp_path / "repo"
    (root / "mesh").mkdir(parents=True)
    (root / "mesh" / "svc.yaml").write_text(SERVICE)
    (root / "mesh" / "link.yaml").symlink_to(outside / "secret.yaml")
    (root / "mesh" / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    files = directory_files(root)
    assert [f.path for f in files] == ["mesh/svc.yaml"]


def test_directory_files_skips_hidden_folders_and_the_config_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for rel in [
        ".github/workflows/ci.yaml",
        ".gitlab-ci.yml",
        "mesh/.hidden/x.yaml",
        "mesh/.x.yaml",
        "meshrc.yaml",
        "mesh/meshrc.yaml",
        "mesh/a.yaml",
        "mesh/b.YML",
        "mesh/notes.txt",
        "README.md",
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a: 1\n")
    assert [f.path for f in directory_files(root)] == [
        "mesh/a.yaml",
        "mesh/b.YML",
        "mesh/meshrc.yaml",  # only the root's meshrc.yaml is configuration
    ]
    below = [f.path for f in directory_files(root / "mesh", "mesh/")]
    assert {"mesh/a.yaml", "mesh/b.YML"} <= set(below)
    assert not any("/." in path for path in below)


def test_directory_files_blob_ids_are_gits(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"hello\n")
    # `printf 'hello\n' | git hash-object --stdin`
    assert directory_files(tmp_path)[0].blob_id == "ce013625030ba8dba906f756967f9e9ca394464a"


# --------------------------------------------------------------------------- the parse cache

CACHE_FILES = {
    "a.yaml": SERVICE.encode(),
    "b.yaml": (SERVICE + "---\nkind: [\n---\nx: 1\n").encode(),
    "c/d.yml": b"# nothing\n",
    "e.yaml": b"created: 2001-12-14\nset: !!set {a, b}\nbin: !!binary aGk=\n",
}


def cache_file(cache: Path) -> Path:
    return cache / f"parsed-v{CACHE_FORMAT}.pickle"


def test_second_load_is_served_from_the_cache(tmp_path: Path) -> None:
    cold = load(CACHE_FILES, cache_dir=tmp_path)
    assert cold.cache_hits == 0
    assert cache_file(tmp_path).exists()
    warm = load(CACHE_FILES, cache_dir=tmp_path)
    assert warm.cache_hits == len(CACHE_FILES)
    assert warm.documents == cold.documents
    assert warm.findings == cold.findings
    assert warm.documents == load(CACHE_FILES).documents

    changed = {**CACHE_FILES, "a.yaml": SERVICE.replace("9080", "9081").encode()}
    partly = load(changed, cache_dir=tmp_path)
    assert partly.cache_hits == len(CACHE_FILES) - 1
    assert bodies(partly, "a.yaml")[0]["spec"]["ports"][0]["port"] == 9081


def test_same_bytes_under_two_names_share_one_entry(tmp_path: Path) -> None:
    files = {"x.yaml": SERVICE.encode(), "y/x.yaml": SERVICE.encode()}
    load(files, cache_dir=tmp_path)
    warm = load(files, cache_dir=tmp_path)
    assert warm.cache_hits == 2
    assert [d.file for d in warm.documents] == ["x.yaml", "y/x.yaml"]


class _Boom:
    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (os.system, ("false",))


def _corruptions(blob: str, marker: Path) -> dict[str, bytes]:
    good = pickle.dumps({blob: [(1, {"a": 1})]}, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "empty": b"",
        "garbage": b"this is not a pickle",
        "truncated": good[: len(good) // 2],
        "flipped": good[:10] + bytes([good[10] ^ 0xFF]) + good[11:],
        "not-a-dict": pickle.dumps([1, 2, 3]),
        "wrong-shape": pickle.dumps({blob: [(1, 2, 3)]}),
        "wrong-types": pickle.dumps({blob: [("1", {"a": 1})], "other": 5}),
        "build-on-dict": b"\x80\x04}}b.",  # AttributeError when unpickled
        "huge-length": b"\x80\x04\x8d" + (2**64 - 1).to_bytes(8, "little") + b".",  # OverflowError
        "class": pickle.dumps({blob: [(1, _Boom())]}),
        "function": pickle.dumps({blob: [(1, os.system)]}),
        "touch": pickle.dumps({blob: [(1, _Touch(marker))]}),
    }


class _Touch:
    """Unpickling this (if allowed) would create ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(
    "kind",
    [
        "empty",
        "garbage",
        "truncated",
        "flipped",
        "not-a-dict",
        "wrong-shape",
        "wrong-types",
        "build-on-dict",
        "huge-length",
        "class",
        "function",
        "touch",
    ],
)
def test_damaged_or_hostile_cache_is_ignored(tmp_path: Path, kind: str) -> None:
    data = SERVICE.encode()
    blob = git_blob_id(data)
    marker = tmp_path / "executed"
    cache = tmp_path / "cache"
    cache.mkdir()
    cache_file(cache).write_bytes(_corruptions(blob, marker)[kind])
    result = load({"a.yaml": data}, cache_dir=cache)
    assert not marker.exists()
    assert result.cache_hits == 0
    assert result.findings == []
    assert bodies(result, "a.yaml")[0]["kind"] == "Service"
    # and the damaged file was replaced by a good one
    assert load({"a.yaml": data}, cache_dir=cache).cache_hits == 1


def test_cache_in_an_unwritable_place_is_only_slower(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    first = load(CACHE_FILES, cache_dir=blocker / "cache")
    second = load(CACHE_FILES, cache_dir=blocker / "cache")
    assert second.cache_hits == 0
    assert second.documents == first.documents


# --------------------------------------------------------------------------- parallel parsing


def _big_input() -> dict[str, bytes]:
    """About 2.5 MB in 300 files, some with a broken document or an error in the middle."""
    files = {}
    for i in range(300):
        docs = [SERVICE.replace("reviews", f"svc{i}-{j}") for j in range(5)]
        if i % 37 == 0:
            docs[2] = "kind: [broken\n"
        if i % 41 == 0:
            docs[3] = "a: 1\na: 2\n"
        files[f"ns{i % 7}/svc{i}.yaml"] = ("---\n".join(docs) + "#" * 7000 + "\n").encode()
    return files


def test_parallel_parsing_gives_the_same_documents_as_serial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _big_input()
    assert sum(map(len, files.values())) > loading.PARALLEL_THRESHOLD_BYTES
    pools: list[int] = []

    class RecordingPool(loading.ProcessPoolExecutor):
        def __init__(self, max_workers: int, **kwargs: Any) -> None:
            pools.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(loading, "ProcessPoolExecutor", RecordingPool)
    serial = load(files, workers=1)
    assert pools == []
    parallel = load(files, workers=2)
    assert pools == [1]  # one worker process; this process parses the other run itself
    assert parallel.documents == serial.documents
    assert parallel.findings == serial.findings
    assert len(serial.documents) == 300 * 5 - 9 - 8
    assert len(serial.findings) == 9 + 8


def test_parallel_parsing_below_the_threshold_when_lowered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {f"f{i}.yaml": (SERVICE + "---\nkind: [\n").encode() for i in range(10)}
    files["dup.yaml"] = b"a: 1\na: 2\n"
    pools: list[int] = []

    class RecordingPool(loading.ProcessPoolExecutor):
        def __init__(self, max_workers: int, **kwargs: Any) -> None:
            pools.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(loading, "ProcessPoolExecutor", RecordingPool)
    monkeypatch.setattr(loading, "PARALLEL_THRESHOLD_BYTES", 100)
    parallel = load(files, workers=2)
    monkeypatch.setattr(loading, "PARALLEL_THRESHOLD_BYTES", 10**12)
    serial = load(files, workers=2)
    assert pools == [1]
    assert parallel.documents == serial.documents
    assert parallel.findings == serial.findings
    assert len(parallel.findings) == 11


# --- valid YAML that must not be refused ------------------------------------------------------


def test_merge_key_overridden_by_an_own_key_is_not_a_duplicate() -> None:
    text = "base: &b {a: 1, b: 1}\nx:\n  <<: *b\n  b: 2\n"
    assert parse_document(Chunk(1, text))["x"] == {"a": 1, "b": 2}


def test_own_keys_repeated_after_a_merge_are_still_duplicates() -> None:
    text = "base: &b {a: 1}\nx:\n  <<: *b\n  b: 2\n  b: 3\n"
    with pytest.raises(DocumentError, match="duplicate key 'b'") as caught:
        parse_document(Chunk(1, text))
    assert caught.value.line == 5


def test_yaml_directive_stays_with_its_document() -> None:
    chunks = split_documents("%YAML 1.1\n---\na: 1\n---\nb: 2\n")
    assert [parse_document(c) for c in chunks] == [{"a": 1}, {"b": 2}]
    assert [c.line for c in chunks] == [1, 4]
