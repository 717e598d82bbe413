"""docs/architecture.md against the tree (issue 37): every source file under src/ has its
line there and every file named there exists; and the layering rules that hold today, by a
grep of the includes. Fast: reads files only, starts no server."""
import re

from conftest import REPO

DOC = REPO / "docs" / "architecture.md"
SRC = REPO / "src"
SECTION = "## Where things live"
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.MULTILINE)

# Protocol files that include storage/ headers themselves instead of going through the
# pipelines (query/, ingest/). issue 37 emptied it: the rule is absolute now.
PROTOCOL_FILES_INCLUDING_STORAGE = set()


def source_files():
    """Every .cc/.h under src/ but the unit tests, relative to the repository."""
    return {str(p.relative_to(REPO)) for p in SRC.rglob("*")
            if p.suffix in (".cc", ".h") and not p.name.endswith("_test.cc")}


def documented_files(text):
    """The files docs/architecture.md lists under "Where things live": a line holding only
    a backquoted folder (`src/arrowport/x/`) starts a group, and each `- `name`: ...` line
    names a file in it (`name.{h,cc}` names both). Returns (files, names listed twice)."""
    files, twice = set(), []
    folder = None
    lines = text.split(SECTION, 1)[1].splitlines() if SECTION in text else []
    for line in lines:
        heading = re.fullmatch(r"`(src/[\w/]*)`", line.strip())
        if heading:
            folder = heading.group(1).rstrip("/") + "/"
            continue
        entry = re.match(r"- `([\w.{},]+)`", line)
        if not entry or folder is None:
            continue
        name = entry.group(1)
        braces = re.fullmatch(r"(\w+)\.\{([\w,]+)\}", name)
        names = [f"{braces.group(1)}.{ext}" for ext in braces.group(2).split(",")] \
            if braces else [name]
        for one in names:
            path = folder + one
            if path in files:
                twice.append(path)
            files.add(path)
    return files, twice


def doc_mismatches(text, tree):
    """What the doc misses and what it names that the tree lacks (empty when they agree)."""
    listed, twice = documented_files(text)
    problems = [f"not in docs/architecture.md: {path}" for path in sorted(tree - listed)]
    problems += [f"in docs/architecture.md but not in the tree: {path}"
                 for path in sorted(listed - tree)]
    problems += [f"listed twice in docs/architecture.md: {path}" for path in twice]
    return problems


def includes(path):
    return INCLUDE.findall(path.read_text(errors="replace"))


def test_every_source_file_has_its_line_and_every_line_its_file():
    tree = source_files()
    assert len(tree) > 100  # the walk found the sources
    problems = doc_mismatches(DOC.read_text(), tree)
    assert not problems, "\n".join(problems)


def test_the_doc_check_finds_a_missing_and_a_stale_file():
    # The check above can fail: the doc as it is, with one line gone and one line naming
    # a file the tree does not have.
    text = DOC.read_text()
    assert "- `connection.{h,cc}`:" in text
    doctored = text.replace("- `connection.{h,cc}`:", "- `gone_away.{h,cc}`:")
    problems = doc_mismatches(doctored, source_files())
    assert "not in docs/architecture.md: src/arrowport/storage/connection.h" in problems
    assert "not in docs/architecture.md: src/arrowport/storage/connection.cc" in problems
    assert ("in docs/architecture.md but not in the tree: "
            "src/arrowport/storage/gone_away.cc") in problems
    # A new file in the tree that nobody described.
    assert doc_mismatches(text, source_files() | {"src/arrowport/query/new_part.cc"}) == [
        "not in docs/architecture.md: src/arrowport/query/new_part.cc"]


def protocol_files_including_storage():
    found = set()
    for folder in ("flight", "http"):
        for path in (SRC / "arrowport" / folder).rglob("*"):
            if path.suffix in (".cc", ".h") and any(
                    name.startswith("arrowport/storage/") for name in includes(path)):
                found.add(str(path.relative_to(REPO)))
    return found


def test_protocols_reach_storage_only_through_the_pipelines():
    # The grep sees a storage/ include where there is one (the pipelines have many).
    pipelines = {str(p.relative_to(REPO)) for p in (SRC / "arrowport" / "query").rglob("*.cc")
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
                   for path in (SRC / "arrowport" / folder).rglob("*")
                   if path.suffix in (".cc", ".h") and
                   re.search(r"\bstorage::", re.sub(r"//.*", "", path.read_text(errors="replace"))))
    assert not named, f"flight/ and http/ name storage:: types: {named}"


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
    assert "src/arrowport/storage/connection.cc" in users  # the grep sees DuckDB's includes
    assert "src/arrowport/bench/duckdb_ceilings.cc" in users
    assert not outside, f"DuckDB's headers are storage's alone: {sorted(outside)}"


def folder_edges():
    """(folder, folder it includes from) for the production sources under
    src/arrowport: flight/sql counts as flight."""
    edges = set()
    for path in (SRC / "arrowport").rglob("*"):
        if path.suffix not in (".cc", ".h") or path.name.endswith("_test.cc"):
            continue
        folder = path.relative_to(SRC / "arrowport").parts[0]
        if folder == "test_support":
            continue
        for name in includes(path):
            parts = name.split("/")
            if len(parts) > 2 and parts[0] == "arrowport" and parts[1] != folder:
                edges.add((folder, parts[1]))
    return edges


def cycles(edges):
    """The folders on a cycle of includes, each cycle once as a sorted tuple."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    found = set()

    def walk(node, path):
        for nxt in graph.get(node, ()):
            if nxt in path:
                found.add(tuple(sorted(path[path.index(nxt):])))
            elif len(path) < len(graph) + 1:
                walk(nxt, path + [nxt])

    for start in graph:
        walk(start, [start])
    return found


def test_no_two_folders_include_each_other():
    edges = folder_edges()
    assert ("query", "storage") in edges  # the walk sees includes between folders
    assert cycles({("a", "b"), ("b", "c"), ("c", "a")}) == {("a", "b", "c")}
    assert cycles(edges) == set(), sorted(edges)
