"""The docs against the tree: docs/architecture.md names every source file under src/ and
no file the tree lacks (issue 37), and every link between README.md and docs/*.md leads
to a file and a heading that exist (issue 67)."""
import os
import re

from source_tree import REPO, SRC

DOC = REPO / "docs" / "architecture.md"
SECTION = "## Where things live"

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


# [text](target): the targets that are not a URL are files of the repository, with an
# optional #heading. Code blocks hold examples, not links.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def heading_anchors(markdown):
    """The #anchors GitHub makes of `markdown`'s headings: lower case, punctuation but
    '-' and '_' dropped, spaces made '-'; a repeated heading gets -1, -2, ..."""
    seen, anchors = {}, set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*$", CODE_BLOCK.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(pages):
    """"page: target (why)" for each link of `pages` ({path: text}) that leads nowhere."""
    problems = []
    for page, text in sorted(pages.items()):
        for target in LINK.findall(CODE_BLOCK.sub("", text)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto: ...
            path, _, anchor = target.partition("#")
            file = (REPO / page).parent / path if path else REPO / page
            name = str(page)
            if not file.exists():
                problems.append(f"{name}: {target} (no such file)")
            elif anchor and file.suffix == ".md":
                text_there = pages.get(os.path.relpath(file.resolve(), REPO)) or file.read_text()
                if anchor not in heading_anchors(text_there):
                    problems.append(f"{name}: {target} (no such heading)")
    return problems


def doc_pages():
    return {str(p.relative_to(REPO)): p.read_text()
            for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]}


def test_every_link_between_the_docs_leads_somewhere():
    pages = doc_pages()
    assert sum(len(LINK.findall(text)) for text in pages.values()) > 100  # the parse sees them
    problems = broken_links(pages)
    assert not problems, "\n".join(problems)
    # The check can fail: a file moved away, a heading renamed.
    assert "## Where things live" in pages["docs/architecture.md"]
    doctored = dict(pages)
    doctored["README.md"] += ("\n[gone](docs/gone.md) "
                              "[renamed](docs/architecture.md#where-things-live)\n")
    doctored["docs/architecture.md"] = pages["docs/architecture.md"].replace(
        "## Where things live", "## Where the files are")
    problems = broken_links(doctored)
    assert "README.md: docs/gone.md (no such file)" in problems
    assert "README.md: docs/architecture.md#where-things-live (no such heading)" in problems
    assert heading_anchors("# A (b), c\n```\n# not a heading\n```\n## A (b), c\n") == {
        "a-b-c", "a-b-c-1"}


def latest_table(text, after):
    """The first Markdown table after `after` in `text`, whole."""
    rest = text[text.index(after):]
    start = rest.index("\n|") + 1
    end = rest.find("\n\n", start)
    return rest[start:end if end >= 0 else len(rest)]


def test_the_readme_shows_the_benchmarks_latest_table():
    # docs/benchmark.md keeps the method and the latest run; README.md shows the same
    # throughput table, and says so: a new run replaces both.
    pages = doc_pages()
    ours = latest_table(pages["docs/benchmark.md"], "## The latest run")
    assert ours.startswith("| 5 columns, 10M rows |") and ours.count("\n") > 5
    assert latest_table(pages["README.md"], "The latest run, ") == ours
