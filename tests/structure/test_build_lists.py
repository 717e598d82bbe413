"""The build's lists against the tree: every .cc is on its folder's CMake list (issue 37),
each unit-test file keeps its helpers in a namespace of its own (the unity build), and the
ThreadSanitizer lane's list names test files and suites that exist (issue 67)."""
import fnmatch
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


# The ThreadSanitizer lane's one list: each line a unit-test file (relative to
# src/arrowport), then the gtest suites of it that the lane runs. CMakeLists.txt builds
# the files (ARROWPORT_UNIT_TEST_LIST in CMakePresets.json), bin/test runs the suites.
TSAN_LIST = REPO / "fuzz" / "tsan_unit_tests.txt"
SUITE = re.compile(r"^\s*(?:TEST|TEST_F|TEST_P|TYPED_TEST)\(\s*(\w+)\s*,", re.MULTILINE)


def tsan_list_problems(text, unit_test_files):
    """What is wrong with the list `text` given the unit-test files ({path relative to
    src/arrowport: its text}) on the folders' lists: a file not there, a line without a
    suite, a pattern matching no suite of its file."""
    problems = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, *patterns = line.split()
        if path not in unit_test_files:
            problems.append(f"{path}: not a unit-test file on a folder's list")
            continue
        if not patterns:
            problems.append(f"{path}: names no suite (the lane would build it for nothing)")
        suites = set(SUITE.findall(unit_test_files[path]))
        problems += [f"{path}: {pattern} matches no suite of the file ({sorted(suites)})"
                     for pattern in patterns
                     if not any(fnmatch.fnmatchcase(suite, pattern) for suite in suites)]
    return problems


def listed_unit_tests():
    """{path relative to src/arrowport: text} of the unit tests on the folders' lists."""
    files = [REPO / path for path in cmake_listed_sources() if path.endswith("_test.cc")]
    return {str(path.relative_to(ARROWPORT)): path.read_text() for path in files}


def test_the_tsan_lane_list_names_files_and_suites_that_exist():
    text = TSAN_LIST.read_text()
    unit_tests = listed_unit_tests()
    assert len(unit_tests) > 50 and "common/call_watchdog_test.cc" in unit_tests
    problems = tsan_list_problems(text, unit_tests)
    assert not problems, "\n".join(problems)
    presets = (REPO / "CMakePresets.json").read_text()
    assert '"ARROWPORT_UNIT_TEST_LIST": "${sourceDir}/fuzz/tsan_unit_tests.txt"' in presets
    assert "fuzz/tsan_unit_tests.txt" in (REPO / "bin" / "test").read_text()
    # The check can fail: a file gone, a suite renamed, a file with no suite.
    doctored = text + ("common/gone_test.cc Gone*\n"
                       "common/call_watchdog_test.cc CallWatchdog* Renamed*\n"
                       "common/logger_test.cc\n")
    assert tsan_list_problems(doctored, unit_tests) == [
        "common/gone_test.cc: not a unit-test file on a folder's list",
        "common/call_watchdog_test.cc: Renamed* matches no suite of the file (" +
        str(sorted(set(SUITE.findall(unit_tests["common/call_watchdog_test.cc"])))) + ")",
        "common/logger_test.cc: names no suite (the lane would build it for nothing)"]
