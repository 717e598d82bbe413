"""The layering rules that hold today (issue 37; docs/architecture.md), by a grep of the
includes: the protocols reach storage only through the pipelines and see no storage type
but plain data; DuckDB's headers are storage's alone; storage's libraries include each
other only down their order; no two folders include each other."""
import re

from source_tree import ARROWPORT, REPO, SRC, folder_of, includes, strongly_connected

# Protocol files that include storage/ headers themselves instead of going through the
# pipelines (query/, ingest/). issue 37 emptied it: the rule is absolute now.
PROTOCOL_FILES_INCLUDING_STORAGE = set()


def protocol_files_including_storage():
    found = set()
    for folder in ("flight", "http"):
        for path in (ARROWPORT / folder).rglob("*"):
            if path.suffix in (".cc", ".h") and any(
                    name.startswith("arrowport/storage/") for name in includes(path)):
                found.add(str(path.relative_to(REPO)))
    return found


def test_protocols_reach_storage_only_through_the_pipelines():
    # The grep sees a storage/ include where there is one (the pipelines have many).
    pipelines = {str(p.relative_to(REPO)) for p in (ARROWPORT / "query").rglob("*.cc")
                 if any(n.startswith("arrowport/storage/") for n in includes(p))}
    assert pipelines, "the grep found no storage/ include at all: the check would not see one"
    found = protocol_files_including_storage()
    new = found - PROTOCOL_FILES_INCLUDING_STORAGE
    assert not new, f"flight/ and http/ reach storage through the pipelines, not: {sorted(new)}"
    gone = PROTOCOL_FILES_INCLUDING_STORAGE - found
    assert not gone, f"no longer include storage/ (take them off the list): {sorted(gone)}"
    # Nor do they name a storage type that a pipeline's header lets through.
    named = sorted(str(path.relative_to(REPO))
                   for folder in ("flight", "http")
                   for path in (ARROWPORT / folder).rglob("*")
                   if path.suffix in (".cc", ".h") and
                   re.search(r"\bstorage::", re.sub(r"//.*", "", path.read_text(errors="replace"))))
    assert not named, f"flight/ and http/ name storage:: types: {named}"


# The storage headers a protocol file may see through the pipelines' headers: plain data
# (names, column shapes, catalog rows), no connection, database or DuckDB type.
STORAGE_PLAIN_DATA = {"arrowport/storage/core/column_info.h",
                      "arrowport/storage/core/table_name.h",
                      "arrowport/storage/catalog/catalog_rows.h"}


def reached_headers(path, seen=None):
    """Every arrowport/ header `path` includes, directly or through other headers."""
    seen = set() if seen is None else seen
    for name in includes(path):
        if name.startswith("arrowport/") and name not in seen:
            seen.add(name)
            header = SRC / name
            if header.exists():
                reached_headers(header, seen)
    return seen


def test_protocols_see_no_storage_type_but_plain_data_through_any_header():
    ingest = reached_headers(ARROWPORT / "ingest" / "ingest_pipeline.cc")
    assert "arrowport/storage/database/database.h" in ingest  # the walk follows includes
    seen = {}
    for folder in ("flight", "http"):
        for path in (ARROWPORT / folder).rglob("*"):
            if path.suffix in (".cc", ".h") and not path.name.endswith("_test.cc"):
                for name in reached_headers(path):
                    if name.startswith("arrowport/storage/") and name not in STORAGE_PLAIN_DATA:
                        seen.setdefault(name, str(path.relative_to(REPO)))
    assert not seen, f"storage headers a protocol file reaches (header: one such file): {seen}"


def is_duckdb_header(name):
    return name in ("duckdb.hpp", "duckdb.h") or name.startswith("duckdb/")


def test_duckdb_headers_only_in_storage_and_the_bench_ceilings():
    allowed = re.compile(r"src/arrowport/storage/|src/arrowport/bench/duckdb_ceilings\.")
    users, outside = set(), []
    for root in (SRC, REPO / "fuzz", REPO / "bench"):
        for path in root.rglob("*"):
            if path.suffix not in (".cc", ".h", ".hpp", ".cpp"):
                continue
            if any(is_duckdb_header(name) for name in includes(path)):
                relative = str(path.relative_to(REPO))
                users.add(relative)
                if not allowed.match(relative):
                    outside.append(relative)
    # The grep sees DuckDB's includes.
    assert "src/arrowport/storage/database/connection.cc" in users
    assert "src/arrowport/bench/duckdb_ceilings.cc" in users
    assert not outside, f"DuckDB's headers are storage's alone: {sorted(outside)}"


# storage/'s libraries (src/arrowport/storage/CMakeLists.txt), each including only itself
# and the ones before it. Unit tests are left out: they link everything (a sandbox test
# needs a Database).
STORAGE_ORDER = ["memory", "core", "files", "sandbox", "results", "database", "catalog"]
STORAGE = ARROWPORT / "storage"


def storage_library(relative):
    """'database' for 'database/connection.h' (relative to storage/); None elsewhere."""
    parts = relative.split("/")
    return parts[0] if len(parts) > 1 and parts[0] in STORAGE_ORDER else None


def storage_upward_includes(files):
    """(file, included) pairs where a storage file includes a header of a later library,
    or a storage file or header sits outside the stated libraries. `files` maps a path
    relative to storage/ to the storage/ headers it includes (relative to storage/)."""
    problems = []
    for path, included in sorted(files.items()):
        library = storage_library(path)
        if library is None:
            problems.append((path, "(in no storage library)"))
            continue
        for header in included:
            target = storage_library(header)
            if target is None or STORAGE_ORDER.index(target) > STORAGE_ORDER.index(library):
                problems.append((path, header))
    return problems


def storage_includes():
    prefix = "arrowport/storage/"
    return {str(p.relative_to(STORAGE)): [n[len(prefix):] for n in includes(p)
                                          if n.startswith(prefix)]
            for p in STORAGE.rglob("*")
            if p.suffix in (".cc", ".h") and not p.name.endswith("_test.cc")}


def test_storage_libraries_include_each_other_only_downward():
    found = storage_includes()
    assert sum(len(v) for v in found.values()) > 100  # the grep sees storage's includes
    problems = storage_upward_includes(found)
    assert not problems, "storage includes up its order " + str(STORAGE_ORDER) + ": " + \
        ", ".join(f"{path} -> {header}" for path, header in problems)
    # The check can fail: the sandbox calling back into a Connection, a file left at the top.
    doctored = dict(found)
    doctored["sandbox/statement_guard.cc"] = found["sandbox/statement_guard.cc"] + [
        "database/connection.h"]
    doctored["stray.cc"] = []
    assert storage_upward_includes(doctored) == [
        ("sandbox/statement_guard.cc", "database/connection.h"),
        ("stray.cc", "(in no storage library)")]


def folder_edges():
    """(folder, folder it includes from) for the production sources under src/arrowport,
    each folder by its whole path (flight/sql apart from flight, storage/core apart from
    storage/database): test support aside."""
    edges = set()
    for path in ARROWPORT.rglob("*"):
        if path.suffix not in (".cc", ".h") or path.name.endswith("_test.cc"):
            continue
        folder = folder_of(path)
        if folder == "test_support":
            continue
        for name in includes(path):
            if name.startswith("arrowport/") and name.count("/") > 1:
                other = name[len("arrowport/"):].rsplit("/", 1)[0]
                if other != folder:
                    edges.add((folder, other))
    return edges


def cycles(edges):
    """The folders that include each other round a circle, each group sorted."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    return strongly_connected(graph)


def test_no_two_folders_include_each_other():
    edges = folder_edges()
    # The walk sees includes between folders, subfolders apart.
    assert {("query", "storage/catalog"), ("flight", "flight/sql"),
            ("storage/database", "storage/core")} <= edges
    assert cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]
    assert cycles(edges | {("flight/sql", "flight")}) == [["flight", "flight/sql"]]
    assert cycles(edges) == [], sorted(edges)
