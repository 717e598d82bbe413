"""No include knot in any library (issue 67; storage's since issue 37): inside a CMake
library, no two units (x.h with x.cc) include each other, directly or round a circle. A
knot is a file that needs something declared above it: the fix is to move that
declaration down into a header of its own (a service's dependencies, a shared type, a
utility), not to forward-declare around it."""
from source_tree import library_files, libraries, strongly_connected, unit_of


def include_knots(files):
    """The knots among `files` ({path: [headers it includes]}): the groups of units that
    include each other, each sorted. Headers outside `files` (other libraries) are left
    out: the layering and folder checks hold those."""
    graph = {}
    for path, included in files.items():
        graph.setdefault(unit_of(path), set()).update(
            unit_of(h) for h in included if h in files and unit_of(h) != unit_of(path))
    return strongly_connected(graph)


def knot_edges(files, knot):
    """The includes that tie `knot` together, "file -> header", for the message."""
    members = set(knot)
    return [f"{path} -> {header}" for path, included in sorted(files.items())
            for header in included
            if unit_of(path) in members and unit_of(header) in members
            and unit_of(header) != unit_of(path)]


def test_every_source_file_is_in_a_library():
    grouped = library_files()
    assert None not in grouped, f"in no library's folder (arrowport_layer DIRS): {grouped[None]}"
    # The parse found the libraries, storage's seven among them.
    assert {"arrowport_common", "arrowport_protocols", "arrowport_storage_database",
            "arrowport_cli", "arrowport_test_support"} <= set(libraries())
    assert libraries()["arrowport_protocols"] == ["flight", "flight/sql", "http"]


def test_no_include_knot_in_any_library():
    grouped = library_files()
    assert sum(len(v) for files in grouped.values() for v in files.values()) > 1000
    # Storage's seven libraries also as one, as issue 37 checked them (a knot across two
    # of them is an include up their order besides: test_layers.py).
    storage = {}
    for library, files in grouped.items():
        if library and library.startswith("arrowport_storage_"):
            storage.update(files)
    problems = []
    for library, files in sorted(grouped.items()) + [("storage as a whole", storage)]:
        for knot in include_knots(files):
            problems.append(f"{library}: {', '.join(knot)}\n    " +
                            "\n    ".join(knot_edges(files, knot)))
    assert not problems, "include knots (units that include each other):\n" + \
        "\n".join(problems)


def test_the_knot_check_finds_a_knot():
    grouped = library_files()
    storage = grouped["arrowport_storage_results"] | grouped["arrowport_storage_database"]
    assert include_knots(storage) == []
    # The knot issue 37 found: connection <-> result_batch_reader.
    doctored = dict(storage)
    doctored["storage/results/result_batch_reader.h"] = (
        storage["storage/results/result_batch_reader.h"] + ["storage/database/connection.h"])
    assert any({"storage/database/connection", "storage/results/result_batch_reader"} <= set(k)
               for k in include_knots(doctored))
    # One issue 67 found: the service's .cc includes the actions, the actions' .cc
    # included the service's header for its dependencies.
    protocols = dict(grouped["arrowport_protocols"])
    assert include_knots(protocols) == []
    protocols["flight/actions.cc"] = protocols["flight/actions.cc"] + ["flight/flight_service.h"]
    knots = include_knots(protocols)
    assert knots == [["flight/actions", "flight/flight_service"]], knots
    assert "flight/actions.cc -> flight/flight_service.h" in knot_edges(protocols, knots[0])
    # A file's own header is no knot (x.cc includes x.h; x_impl.h counts as x); a circle
    # of three is one.
    assert include_knots({"a.h": [], "a.cc": ["a.h"], "a_impl.h": ["a.h"]}) == []
    assert include_knots({"a.h": ["b.h"], "b.h": [], "b.cc": ["c.h"], "c.h": ["a.h"]}) == [
        ["a", "b", "c"]]
