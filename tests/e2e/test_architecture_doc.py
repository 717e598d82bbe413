"""docs/architecture.md against the tree (issue 37): every source file under src/ has its
line there and every file named there exists; the layering rules that hold today, by a
grep of the includes (storage's libraries among themselves too); and every .cc on a CMake
list. Fast: reads files only, starts no server."""
import re

import pytest

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
    assert "not in docs/architecture.md: src/arrowport/storage/database/connection.h" in problems
    assert "not in docs/architecture.md: src/arrowport/storage/database/connection.cc" in problems
    assert ("in docs/architecture.md but not in the tree: "
            "src/arrowport/storage/database/gone_away.cc") in problems
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
    ingest = reached_headers(SRC / "arrowport" / "ingest" / "ingest_pipeline.cc")
    assert "arrowport/storage/database/database.h" in ingest  # the walk follows includes
    seen = {}
    for folder in ("flight", "http"):
        for path in (SRC / "arrowport" / folder).rglob("*"):
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
STORAGE = SRC / "arrowport" / "storage"


def storage_sources():
    return [p for p in STORAGE.rglob("*")
            if p.suffix in (".cc", ".h") and not p.name.endswith("_test.cc")]


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
            for p in storage_sources()}


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


def unit_of(relative):
    """A file's unit: its stem, a `x_impl.h`/`x_internal.h` counted with `x`."""
    return re.sub(r"_(impl|internal)$", "", relative.rsplit(".", 1)[0])


def include_knots(files):
    """Groups of units (x.h with x.cc) that include each other, directly or round a
    circle: the strongly connected components of more than one unit."""
    graph = {}
    for path, included in files.items():
        graph.setdefault(unit_of(path), set()).update(
            unit_of(h) for h in included if unit_of(h) != unit_of(path))
    order, low, stack, on_stack, knots = {}, {}, [], set(), []

    def visit(node):  # Tarjan's algorithm
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                knots.append(sorted(component))

    for node in list(graph):
        if node not in order:
            visit(node)
    return knots


def test_no_include_knot_inside_storage():
    found = storage_includes()
    assert not include_knots(found)
    # The knots issue 37 found: connection <-> result_batch_reader, and a longer one.
    doctored = dict(found)
    doctored["results/result_batch_reader.h"] = found["results/result_batch_reader.h"] + [
        "database/connection.h"]
    doctored["results/result_batch_reader.cc"] = found["results/result_batch_reader.cc"]
    assert any({"database/connection", "results/result_batch_reader"} <= set(knot)
               for knot in include_knots(doctored))


# Every .cc under src/arrowport is on the list of its folder's CMakeLists.txt (nothing is
# globbed: a file on no list would silently not build).
LISTED = re.compile(r"\b(?:arrowport_sources\s*\(|arrowport_unit_tests\s*\(|"
                    r"add_library\s*\(\s*\w+\s+OBJECT\b)([^)]*)\)")


def cmake_listed_sources():
    listed = []
    for cmake in (SRC / "arrowport").rglob("CMakeLists.txt"):
        text = re.sub(r"#[^\n]*", "", cmake.read_text())
        for block in LISTED.findall(text):
            listed += [str((cmake.parent / name).relative_to(REPO)) for name in block.split()]
    return listed


def unlisted_sources(tree, listed):
    problems = [f"on no CMake list (it would not build): {path}"
                for path in sorted(tree - set(listed))]
    problems += [f"on a CMake list but not in the tree: {path}"
                 for path in sorted(set(listed) - tree)]
    problems += [f"on two CMake lists: {path}" for path in sorted(
        {p for p in listed if listed.count(p) > 1})]
    return problems


def test_every_source_is_on_a_cmake_list():
    tree = {str(p.relative_to(REPO)) for p in (SRC / "arrowport").rglob("*.cc")}
    listed = cmake_listed_sources()
    assert len(listed) > 300  # the parse found the lists
    problems = unlisted_sources(tree, listed)
    assert not problems, "\n".join(problems)
    top = (REPO / "CMakeLists.txt").read_text()
    assert "src/main.cc" in top and "src/bench_main.cc" in top
    assert not re.search(r"file\s*\(\s*GLOB", re.sub(r"#[^\n]*", "", top))
    # The check can fail: a new file nobody listed, a listed file gone.
    assert unlisted_sources(tree | {"src/arrowport/query/new_part.cc"}, listed) == [
        "on no CMake list (it would not build): src/arrowport/query/new_part.cc"]
    assert unlisted_sources(tree, listed + ["src/arrowport/query/gone.cc"]) == [
        "on a CMake list but not in the tree: src/arrowport/query/gone.cc"]


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


MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 80
RAW_STRING = re.compile(r'R"([^()\\ ]{0,16})\(')
BODY_AFTER = re.compile(r"\)\s*(const|override|final|noexcept|mutable|\s)*"
                        r"(->\s*[\w:<>,*&\s]+)?$")
CONTROL = re.compile(r"\b(if|for|while|switch|catch)\s*\($")


def blank_out(text):
    """`text` with comments, string and character literals (raw strings too) replaced by
    spaces, newlines kept: braces and parentheses left are the code's own."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        raw = RAW_STRING.match(text, i) if c == "R" else None
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find(")" + raw.group(1) + '"', raw.end())
            end = n if end < 0 else end + len(raw.group(1)) + 2
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif c in "\"'" and not (c == "'" and i > 0 and text[i - 1].isalnum()):
            end = i + 1
            while end < n and text[end] != c and text[end] != "\n":
                end += 2 if text[end] == "\\" else 1
            end += 1
        else:
            out.append(c)
            i += 1
            continue
        out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
        i = end
    return "".join(out)


def long_functions(text, limit=MAX_FUNCTION_LINES):
    """(first line, lines) of each function longer than `limit`, from the first line of its
    declaration to its closing brace: free functions, methods defined in or out of a class
    and lambdas at namespace scope. A body is a `{` after a parameter list's `)` (with
    const/override/noexcept or a trailing return type between) or after a constructor's
    initializer list; what a function body holds (lambdas, blocks) counts as its own."""
    code = blank_out(text)
    found, stack, statement_start = [], [], 0
    for i, c in enumerate(code):
        if c in ";}":
            if c == "}" and stack:
                kind, first = stack.pop()
                if kind == "function":
                    size = code.count("\n", first, i) + 1
                    if size > limit:
                        found.append((code.count("\n", 0, first) + 1, size))
            statement_start = i + 1
        elif c == "{":
            head = code[statement_start:i]
            in_function = any(kind == "function" for kind, _ in stack)
            opens_body = not in_function and (
                BODY_AFTER.search(head.rstrip()) or re.search(r"\)\s*:\s*[\w:]+\s*[({]", head))
            if opens_body and not CONTROL.search(head.rstrip()[:-1].rstrip() + "("):
                stack.append(("function", statement_start + len(head) - len(head.lstrip())))
            else:
                stack.append(("block", i))
            statement_start = i + 1
        elif c == ":" and code[statement_start:i].strip() in ("public", "private", "protected"):
            statement_start = i + 1
    return found


def test_no_source_file_or_function_too_long_outside_tests():
    # issue 37: no source file over 450 lines, no function over 80, tests aside.
    production = [p for p in SRC.rglob("*") if p.suffix in (".cc", ".h")
                  and not p.name.endswith("_test.cc") and "test_support" not in p.parts]
    problems = []
    for path in sorted(production):
        text = path.read_text(errors="replace")
        count = text.count("\n")
        if count > MAX_FILE_LINES:
            problems.append(f"{path.relative_to(REPO)}: {count} lines")
        problems += [f"{path.relative_to(REPO)}:{line}: a function of {size} lines"
                     for line, size in long_functions(text)]
    assert not problems, "\n".join(problems)


BODY = "\n".join(f"    x += {i};" for i in range(MAX_FUNCTION_LINES))
LONG_FUNCTIONS = {  # each one line over the limit or more, as the check counts
    "free, signature on two lines": f"namespace a {{\n// why\narrow::Status Long(int x,\n"
                                    f"                   int y) {{\n{BODY}\n}}\n}}\n",
    "method in a class body": f"class A {{\n public:\n  int Long() const {{\n{BODY}\n  }}\n}};\n",
    "operator": f"bool operator==(const A& a, const A& b) {{\n{BODY}\n}}\n",
    "template with a default": f"template <typename T = int>\nT Long(T x) {{  // why\n{BODY}\n}}\n",
    "head starting with struct": f"struct Foo* Make(int x) {{\n{BODY}\n}}\n",
    "raw string holding a brace": f'int Long() {{\n  const char* s = R"(\n}}\n)";\n{BODY}\n}}\n',
    "constructor with braced members": f"A::A(int x) : x_{{x}}, y_(2) {{\n{BODY}\n}}\n",
    "lambda at namespace scope": f"const auto kF = [](int x) {{\n{BODY}\n}};\n",
    "trailing return type": f"auto F(int x) -> int {{\n{BODY}\n}}\n",
}


@pytest.mark.parametrize("case", sorted(LONG_FUNCTIONS))
def test_the_function_length_check_finds_a_long_function(case):
    found = long_functions(LONG_FUNCTIONS[case])
    assert len(found) == 1 and found[0][1] > MAX_FUNCTION_LINES, found
    # Blocks inside, short functions and class bodies are not reported.
    short = "int F() {\n  if (x) {\n    return 1;\n  }\n}\nclass B {\n  int G() { return 2; }\n};\n"
    assert long_functions(short) == []


def test_unit_test_files_keep_their_helpers_in_a_namespace_of_their_own():
    """The unit tests compile eight files at a time (a unity build): a helper in an
    anonymous namespace would meet another file's helper of the same name in the same
    compile, so each file's helpers live in a namespace named after the file."""
    offenders = []
    for path in sorted(SRC.rglob("*_test.cc")):
        text = path.read_text()
        if re.search(r"^\s*namespace\s*\{", text, re.M):
            offenders.append(f"{path.relative_to(REPO)}: an anonymous namespace")
        if f"namespace {path.stem} {{" not in text:
            offenders.append(f"{path.relative_to(REPO)}: no namespace {path.stem}")
    assert not offenders, offenders
