"""Docs that run (issue 36): every shell and Python example of README.md and docs/*.md, as
written, in page order, twice, against servers of its own; and the README's quick start
pasted as one block into a fresh clone. The rules (which blocks run and how, the
`<!-- docs-test: ... -->` directives) are at the top of docs_examples.py; docs_runner.py
runs a page inside its namespaces."""
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest

from docs_examples import (MINIO_KEY, MINIO_REGION, MINIO_SECRET, REPO, pages, parse_page,
                           runnable)

# The docs are run against the release build: the default lane's, and in CI its
# release-only run.
pytestmark = pytest.mark.release_only("the docs run against the release build")
RUNNER = Path(__file__).resolve().with_name("docs_runner.py")
MINIO_DEFAULT = "/var/cache/arrowport/go/bin/minio"
# Kept from the caller's environment: where the toolchain is.
KEPT_ARROWPORT_VARS = {"ARROWPORT_ROOT", "ARROWPORT_NATIVE", "ARROWPORT_CCACHE_DIR"}
PASS_TIMEOUT_S = 1500
# Pages run at once: each has namespaces of its own, so their fixed ports never meet, and
# much of a page's time is servers starting and stopping (60 s one after the other, 36 s
# three at a time, on two cores).
PARALLEL_PAGES = 3
PAGES = [p.relative_to(REPO).as_posix() for p in pages()]
README = "README.md"


def page_env(curl_dir, binary):
    """The examples' environment: the caller's without Arrowport's and AWS's variables
    (but for where the toolchain is), the venv first on PATH, curl failing on HTTP errors,
    the page's MinIO keys, and `binary` as ARROWPORT_BINARY (None: bin/arrowport builds,
    as for a user)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ARROWPORT_", "AWS_")) or k in KEPT_ARROWPORT_VARS}
    env.update(PATH=f"{sys.prefix}/bin:{os.environ['PATH']}", CURL_HOME=str(curl_dir),
               PYTHONDONTWRITEBYTECODE="1", AWS_ACCESS_KEY_ID=MINIO_KEY,
               AWS_SECRET_ACCESS_KEY=MINIO_SECRET, AWS_REGION=MINIO_REGION)
    if binary is not None:
        env["ARROWPORT_BINARY"] = str(binary)
    return env


def curl_home(tmp_path):
    """A home for curl's config: every example's curl fails on an HTTP error."""
    home = tmp_path / "curl-home"
    home.mkdir()
    (home / ".curlrc").write_text("fail-with-body\n")
    return home


def server_binary():
    binary = Path(os.environ.get("ARROWPORT_BINARY") or REPO / "build/release/arrowport")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no server binary at {binary}: build first (toolchain/build.sh "
                    f"release, or bin/test)", pytrace=False)
    return binary


def in_namespaces(argv):
    """argv as the first process of new network, PID and mount namespaces: loopback only,
    so the docs' fixed ports are free; whatever it leaves running is killed with it."""
    return ["unshare", "--net", "--pid", "--mount", "--fork", "--kill-child",
            "--mount-proc", *argv]


def run_page(page, tmp_path, slow):
    """Runs the page's examples twice in a directory of its own; the failure reports.
    README.md runs in a fresh clone, where its quick start's `serve &` builds the server
    as it does for a new user (the toolchain root and the compiler cache are the
    machine's, so the build is cache hits: about 10 s); the other pages use the server
    built already."""
    blocks = runnable(parse_page(REPO / page))
    if not blocks:
        return []
    if page == README:
        workdir = fresh_clone(tmp_path / "clone")
        env = page_env(curl_home(tmp_path), binary=None)
        return run_blocks(page, blocks, workdir, env, tmp_path, slow, block_timeout=1200)
    workdir = tmp_path / "page"
    workdir.mkdir()
    for name in ("bin", "toolchain"):
        (workdir / name).symlink_to(REPO / name)
    (workdir / ".venv").symlink_to(sys.prefix)
    env = page_env(curl_home(tmp_path), server_binary())
    return run_blocks(page, blocks, workdir, env, tmp_path, slow)


def fresh_clone(directory):
    """`git clone` of this repository with the working tree's uncommitted changes laid
    over it (what a commit of it would clone): no build/, no .venv, nothing generated."""
    def git(*args):
        return subprocess.run(["git", *args], check=True, capture_output=True,
                              timeout=120).stdout

    git("clone", "--quiet", "--shared", str(REPO), str(directory))
    listed = git("-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                 "--exclude-standard")
    for name in filter(None, listed.decode().split("\0")):
        source, target = REPO / name, directory / name
        if source.is_symlink() or source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            shutil.copy2(source, target, follow_symlinks=False)
    for name in filter(None, git("-C", str(REPO), "ls-files", "-z", "--deleted")
                       .decode().split("\0")):
        (directory / name).unlink(missing_ok=True)
    return directory


def run_blocks(page, blocks, workdir, env, tmp_path, slow, block_timeout=None):
    """Runs `blocks` in `workdir` twice, each pass in namespaces of its own."""
    failures = []
    texts = {b.where: b.text for b in blocks}
    for pass_no in (1, 2):
        scratch = tmp_path / f"pass{pass_no}"
        scratch.mkdir()
        spec = {"page": page, "dir": str(workdir), "scratch": str(scratch), "env": env,
                "slow": slow, "block_timeout": block_timeout,
                "minio": os.environ.get("ARROWPORT_MINIO") or MINIO_DEFAULT,
                "minio_data": str(tmp_path / "minio"),
                "results": str(scratch / "results.json"),
                "blocks": [asdict(b) for b in blocks]}
        (scratch / "spec.json").write_text(json.dumps(spec))
        proc = subprocess.run(
            in_namespaces([sys.executable, str(RUNNER), str(scratch / "spec.json")]),
            capture_output=True, text=True, timeout=PASS_TIMEOUT_S)
        results_path = scratch / "results.json"
        results = json.loads(results_path.read_text()) if results_path.exists() else []
        if proc.returncode != 0 or len(results) < len(blocks):
            failures.append(f"{page}, pass {pass_no}: the runner failed (exit "
                            f"{proc.returncode}) after {len(results)} of {len(blocks)} "
                            f"blocks:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        failures += [report(r, texts.get(r["where"], ""), pass_no, scratch)
                     for r in results if r["status"] == "failed"]
    return failures


def report(result, text, pass_no, scratch):
    """A failed block: where, why, the block, its output, and the logs of the page's
    newest server and of MinIO."""
    parts = [f"{result['where']} ({result['lang']}), pass {pass_no} of 2: "
             f"{result['reason']} after {result['seconds']} s",
             "--- the block ---", text.rstrip(),
             "--- its output ---", result["output"].rstrip()]
    if result.get("server_log"):
        parts += ["--- the server's log (its last lines) ---",
                  result["server_log"].rstrip()]
    minio_log = scratch / "minio.log"
    if minio_log.exists() and minio_log.read_text(errors="replace").strip():
        parts += ["--- minio.log ---",
                  minio_log.read_text(errors="replace")[-1500:].rstrip()]
    return "\n".join(parts) + "\n"


def results_of(tmp_path, pass_no):
    path = tmp_path / f"pass{pass_no}" / "results.json"
    return json.loads(path.read_text()) if path.exists() else []


def summary(tmp_path):
    """One line per block and pass: what ran, how long, what was skipped and why."""
    lines = []
    for pass_no in (1, 2):
        for r in results_of(tmp_path, pass_no):
            why = f" ({r['reason']})" if r["status"] != "passed" else ""
            lines.append(f"pass {pass_no} {r['where']}: {r['status']} "
                         f"{r['seconds']} s{why}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def page_runs(request, tmp_path_factory):
    """The selected pages' runs, all started at once, PARALLEL_PAGES at a time:
    page -> Future of (failure reports, the page's directory)."""
    selected = {item.callspec.params["page"] for item in request.session.items
                if item.originalname == "test_docs_examples_run"}
    if any(item.originalname.startswith("test_readme_quick_start")
           for item in request.session.items):
        selected.add(README)

    def run(page, directory):
        return run_page(page, directory, slow=False), directory

    # The directories made here, not in the threads: tmp_path_factory is not thread-safe.
    # README.md first: its clone's build is the longest part.
    directories = {page: tmp_path_factory.mktemp(re.sub(r"\W", "_", page))
                   for page in sorted(selected, key=lambda p: p != README)}
    with ThreadPoolExecutor(PARALLEL_PAGES) as pool:
        yield {page: pool.submit(run, page, d) for page, d in directories.items()}


@pytest.mark.parametrize("page", PAGES)
def test_docs_examples_run(page, page_runs):
    """Every sh/console/python block of the page runs as written, twice (blocks marked
    `slow` run in the slow lane's test below)."""
    failures, directory = page_runs[page].result()
    print(summary(directory))
    assert not failures, "\n\n".join(failures)


def pages_with_slow_blocks():
    out = []
    for page in PAGES:
        try:
            if any(b.directive("slow") is not None for b in parse_page(REPO / page)):
                out.append(page)
        except ValueError:
            pass    # test_docs_examples_run reports it
    return out


def prefetch_maven(page, directory):
    """Maven Central is out of the namespaces' reach: the slow blocks' `mvn` commands run
    once outside them first, in a scratch directory, so that ~/.m2 holds what they fetch
    (the blocks then run as written, from that cache)."""
    for block in parse_page(REPO / page):
        if block.directive("slow") is None or block.kind != "shell":
            continue
        for command in block.text.replace("\\\n", " ").split("\n"):
            if command.startswith("mvn "):
                subprocess.run(["bash", "-e", "-c", command], cwd=directory, check=True,
                               timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize("page", pages_with_slow_blocks())
def test_docs_examples_run_with_slow_blocks(page, tmp_path):
    """The pages with blocks marked `slow` (JDBC: Maven and a JVM), whole, twice."""
    if shutil.which("mvn") is None or shutil.which("java") is None:
        pytest.skip("Java and Maven are needed for the JDBC example")
    (tmp_path / "maven").mkdir()
    prefetch_maven(page, tmp_path / "maven")
    failures = run_page(page, tmp_path, slow=True)
    print(summary(tmp_path))
    assert not failures, "\n\n".join(failures)


def quick_start_block():
    """README.md's first shell block after its "Quick start" heading."""
    lines = (REPO / "README.md").read_text().split("\n")
    heading = next((i + 1 for i, line in enumerate(lines)
                    if line.startswith("#") and "quick start" in line.lower()), None)
    assert heading, "README.md has no 'Quick start' heading"
    block = next((b for b in parse_page(REPO / "README.md")
                  if b.line > heading and b.kind == "shell"), None)
    assert block, f"README.md has no shell block after its Quick start (line {heading})"
    return block


def test_readme_quick_start_pasted_as_one_block_into_a_fresh_clone(page_runs):
    """The quick start as one `bash -e` script in a fresh clone, as a new user has it:
    `serve &` builds the server while `generate` waits for the build (before the build
    lock, both configured build/release at once and broke it); then again in that clone
    (nothing to build, the database kept). It is README.md's first block: its run above,
    in a clone of its own, says how it went."""
    block = quick_start_block()
    failures, directory = page_runs[README].result()
    outcomes = [r["status"] for p in (1, 2) for r in results_of(directory, p)
                if r["where"] == block.where]
    mine = [f for f in failures
            if f.startswith(f"{block.where} ") or "runner failed" in f]
    assert outcomes == ["passed", "passed"], "\n\n".join(mine) or outcomes
