"""The source tree as the structure checks read it: files, their includes, and the CMake
libraries they belong to. Reads files only (no build, no server)."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
ARROWPORT = SRC / "arrowport"
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.MULTILINE)
# arrowport_layer(NAME DIRS a b/c ... PUBLIC|PRIVATE|)): a library and its folders.
LAYER = re.compile(r"\barrowport_layer\s*\(\s*(\w+)\s+DIRS\s+([\w/\s]+?)\s*(?:PUBLIC\b|PRIVATE\b|\))")


def includes(path):
    return INCLUDE.findall(path.read_text(errors="replace"))


def production_sources():
    """Every .cc/.h under src/arrowport but the unit tests."""
    return sorted(p for p in ARROWPORT.rglob("*")
                  if p.suffix in (".cc", ".h") and not p.name.endswith("_test.cc"))


def cmake_text(path):
    return re.sub(r"#[^\n]*", "", path.read_text())


def libraries():
    """{library: [folder relative to src/arrowport, ...]} as the CMake files declare them
    (arrowport_layer), storage's seven included."""
    found = {}
    for cmake in (REPO / "CMakeLists.txt", ARROWPORT / "storage" / "CMakeLists.txt"):
        for name, dirs in LAYER.findall(cmake_text(cmake)):
            found[name] = dirs.split()
    return found


def folder_of(path):
    """'flight/sql' for src/arrowport/flight/sql/x.cc."""
    return str(path.parent.relative_to(ARROWPORT))


def library_files(libs=None):
    """{library: {path relative to src/arrowport: [arrowport headers it includes, relative
    to src/arrowport]}} for every production source, by the folder it sits in; files in
    no library's folder under the key None."""
    libs = libraries() if libs is None else libs
    owner = {folder: name for name, folders in libs.items() for folder in folders}
    grouped = {}
    for path in production_sources():
        relative = str(path.relative_to(ARROWPORT))
        grouped.setdefault(owner.get(folder_of(path)), {})[relative] = [
            name[len("arrowport/"):] for name in includes(path) if name.startswith("arrowport/")]
    return grouped


def unit_of(relative):
    """A file's unit: its stem, a `x_impl.h`/`x_internal.h` counted with `x`."""
    return re.sub(r"_(impl|internal)$", "", relative.rsplit(".", 1)[0])


def strongly_connected(graph):
    """The strongly connected components of more than one node of `graph` ({node: set of
    nodes}), each sorted: the nodes that reach each other round a circle."""
    order, low, stack, on_stack, found = {}, {}, [], set(), []

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
                found.append(sorted(component))

    for node in list(graph):
        if node not in order:
            visit(node)
    return sorted(found)
