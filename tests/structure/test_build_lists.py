"""The build's lists against the tree: every .cc is on its folder's CMake list (issue 37),
and each unit-test file keeps its helpers in a namespace of its own (the unity build)."""
import re

from source_tree import ARROWPORT, REPO, SRC

# Every .cc under src/arrowport is on the list of its folder's CMakeLists.txt (nothing is
# globbed: a file on no list would silently not build).
LISTED = re.compile(r"\b(?:arrowport_sources\s*\(|arrowport_unit_tests\s*\(|"
                    r"add_library\s*\(\s*\w+\s+OBJECT\b)([^)]*)\)")


def cmake_listed_sources():
    listed = []
    for cmake in ARROWPORT.rglob("CMakeLists.txt"):
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
    tree = {str(p.relative_to(REPO)) for p in ARROWPORT.rglob("*.cc")}
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

