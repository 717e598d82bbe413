"""The examples of README.md and docs/*.md as tests/e2e/test_docs_examples.py runs them
(issue 36, "Docs that run"): the rules, and the pages parsed into blocks.

Which fenced blocks run:
- ```sh, ```bash, ```shell: each in a fresh `bash -e BLOCK`, as if pasted into a new
  terminal in the page's directory (no variables or jobs carried over from an earlier
  block); any failing command fails the block, and a trap line before the block's own
  names it. curl reads a .curlrc with `--fail-with-body`: an HTTP error fails it too.
- ```console: a transcript; its commands (the lines after a "$ " prompt, with their
  backslash continuations) run as a shell block; the output shown is not compared.
- ```python, ```py: each in a fresh interpreter (the test venv's: pyarrow, ADBC, Polars,
  requests, deltalake), so every block imports and connects for itself.
- Everything else (```yaml, ```sql, ```promql, ```java, ```text, unlabelled blocks:
  configs, other engines' languages, output) is shown, not run; a block that a later
  example uses as a file (a config, a program) is written there by the `file` directive.
- A block whose output holds an Arrowport error answer ({"error": {"code": ...}}) fails.

Where, and against what:
- Each page runs in a directory of its own that looks like a clone to its commands (`bin`,
  `toolchain` and `.venv` link to this clone's; ARROWPORT_BINARY names the server built
  already, so nothing builds), but README.md in a fresh `git clone` (its quick start's
  `serve &` builds there, as for a new user), inside network, PID and mount namespaces of
  its own (docs_runner.py, under `unshare`): the examples' fixed ports (8815, 8888, 9000)
  are free whatever else runs on the machine, and every process a page leaves behind ends
  with it. PATH starts with the venv's bin; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
  AWS_REGION hold the keys of the page's MinIO.
- A page runs twice, in page order, in the same directory (its files and database kept):
  the second pass is a reader running the examples again, against a new server process.
  No server runs unless the page starts one (a block that runs `arrowport serve ... &`:
  the test waits for its ready line in the block's output, as a reader does before the
  next block) or a `server` directive says so. A block that starts a server first stops
  those running (the reader's Ctrl-C).

Directives: an HTML comment right before a block (blank lines between are allowed),
`<!-- docs-test: WORD ARGS -->`, several separated by ";":
- `skip REASON`: not run (a remote host, a service not here, a command that runs until
  Ctrl-C, a synopsis); the reason is required and shown in the test's output.
- `slow REASON`: run in the slow lane only (`bin/test --slow`).
- `server [ARGS]`: before this block, stop the running servers and start
  `./bin/arrowport serve ARGS` in the page's directory; the block runs once it is ready.
- `minio`: before this block, start MinIO on 127.0.0.1:9000 with a bucket `lake`.
- `file NAME`: write the block's text to NAME in the page's directory; not run.
- `id NAME` names a block; `first NAME`: run block NAME just before this one (where the
  page's text sends the reader to it first, e.g. to make certificates); it runs in its
  own place too."""
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_LANGS = {"sh": "shell", "bash": "shell", "shell": "shell", "console": "console",
             "python": "python", "py": "python"}
DIRECTIVES = {"skip", "slow", "server", "minio", "file", "id", "first"}
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
FENCE_OPEN = re.compile(r"^(\s*)(```+)\s*([\w+-]*)")
MINIO_KEY, MINIO_SECRET, MINIO_REGION = "docs-example-key", "docs-example-secret", \
    "us-east-1"


@dataclass
class Block:
    page: str            # path relative to the repository
    line: int            # 1-based line of the opening fence
    lang: str
    text: str
    directives: list = field(default_factory=list)   # [(word, args)]

    @property
    def kind(self):
        return RUN_LANGS.get(self.lang.lower())

    def directive(self, word):
        return next((args for w, args in self.directives if w == word), None)

    @property
    def where(self):
        return f"{self.page}:{self.line}"


def pages():
    """README.md and docs/*.md, in a fixed order."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def parse_page(path):
    """The fenced blocks of a Markdown page with their directives; raises ValueError
    naming the line of a malformed directive (an unknown word, a skip without a reason, a
    directive with no block after it)."""
    page = str(Path(path).resolve().relative_to(REPO))
    lines = Path(path).read_text().split("\n")
    blocks, pending, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        match = DIRECTIVE.match(line)
        if match:
            pending.extend(_parse_directive(match.group(1), f"{page}:{i + 1}"))
            i += 1
            continue
        fence = FENCE_OPEN.match(line)
        if fence:
            indent, ticks, lang = fence.groups()
            end = i + 1
            while end < len(lines) and not re.match(rf"^\s*{ticks}\s*$", lines[end]):
                end += 1
            body = [l[len(indent):] if l.startswith(indent) else l
                    for l in lines[i + 1:end]]
            blocks.append(Block(page, i + 1, lang, "\n".join(body) + "\n", pending))
            pending, i = [], end + 1
            continue
        if pending and line.strip():
            raise ValueError(f"{page}:{i + 1}: a docs-test directive must come right "
                             f"before a fenced block (only blank lines between)")
        i += 1
    if pending:
        raise ValueError(f"{page}: a docs-test directive at the end, with no block "
                         f"after it")
    return blocks


def _parse_directive(text, where):
    out = []
    # ";" separates directives only before a directive's name: a reason may hold one.
    split = re.split(rf";\s*(?=(?:{'|'.join(DIRECTIVES)})\b)", text)
    for part in filter(None, (p.strip() for p in split)):
        word, _, args = part.partition(" ")
        args = args.strip()
        if word not in DIRECTIVES:
            raise ValueError(f"{where}: unknown docs-test directive {word!r} "
                             f"(known: {', '.join(sorted(DIRECTIVES))})")
        if word in ("skip", "slow", "file", "id", "first") and not args:
            what = "a reason" if word in ("skip", "slow") else "a name"
            raise ValueError(f"{where}: docs-test `{word}` needs {what}")
        out.append((word, args))
    return out


def runnable(blocks):
    """The blocks a run executes or acts on (code blocks, and blocks with `file`); raises
    ValueError for a `first` that names no block."""
    ids = {b.directive("id") for b in blocks} - {None}
    for b in blocks:
        wanted = b.directive("first")
        if wanted is not None and wanted not in ids:
            raise ValueError(f"{b.where}: docs-test `first {wanted}`: no block has "
                             f"`id {wanted}` on this page")
    return [b for b in blocks if b.kind or b.directive("file") is not None]


def console_commands(text):
    """The commands of a console transcript: "$ " lines and their continuations."""
    out, continued = [], False
    for line in text.split("\n"):
        if line.startswith("$ ") or continued:
            out.append(line[2:] if line.startswith("$ ") and not continued else line)
            continued = line.rstrip().endswith("\\")
    return "\n".join(out) + "\n"
