"""How a clone's ./bin/arrowport runs (issue 65): the process is named arrowport (it ran as
the toolchain root's loader, ld-linux-x86-64, which ps, pgrep and DuckDB's lock message
named), a symlink to bin/arrowport on PATH works (it looked for the toolchain beside the
link), and an account without root is told at once what to run instead of a build it
cannot make, or runs the portable tarball found in dist/."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO

NOBODY = 65534


def launch(*args, cwd, env=None, user=None, timeout=300):
    cmd = [str(a) for a in args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    # (Not this clone's own ARROWPORT_* settings: bin/test exports ARROWPORT_ROOT and the
    # like, which a user of another clone does not have.)
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARROWPORT_")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**base, "ARROWPORT_SKIP_BUILD": "1", **(env or {})})


def test_the_server_process_is_named_arrowport(start_server):
    server = start_server()
    if os.environ.get("ARROWPORT_NATIVE") == "1":
        pytest.skip("a native build runs as itself")
    # The server's own process (bin/arrowport execs it): the kernel's name for it.
    pid = server.proc.pid
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "arrowport"
    assert os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "arrowport"


def test_a_symlink_to_bin_arrowport_runs_the_clone(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "arrowport").symlink_to(REPO / "bin" / "arrowport")
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    if "ARROWPORT_BINARY" in os.environ:  # the sanitizer lanes' build
        env["ARROWPORT_BINARY"] = os.environ["ARROWPORT_BINARY"]
    done = launch("arrowport", "--version", cwd=tmp_path, env=env)
    assert done.returncode == 0 and done.stdout.startswith("arrowport "), done


@pytest.fixture
def bare_clone():
    """A clone of the repository with nothing built, owned by an account without root (in
    a directory it can reach: pytest's own are root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="arrowport-clone-"))
    os.chmod(top, 0o755)
    clone = top / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)],
                   check=True, timeout=300, capture_output=True)
    # The working tree's launcher scripts as they are now (a test of uncommitted edits too).
    for script in ("bin/arrowport", "toolchain/env.sh"):
        shutil.copy(REPO / script, clone / script)
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(clone)], check=True)
    yield clone
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.skipif(os.environ.get("ARROWPORT_NATIVE") == "1",
                    reason="a native host builds without root")
def test_without_root_a_bare_clone_says_what_to_run_instead(bare_clone):
    done = launch(bare_clone / "bin" / "arrowport", "serve", cwd=bare_clone, user=NOBODY,
                  env={"HOME": str(bare_clone), "ARROWPORT_CACHE": "/nonexistent"},
                  timeout=60)
    assert done.returncode == 1, done
    assert "not root" in done.stderr and "arrowport-VERSION-linux-x86_64.tar.gz" in \
        done.stderr and "pip install arrowport_server" in done.stderr, done.stderr
    assert not (bare_clone / "build").exists(), "something was built or bootstrapped"


@pytest.mark.skipif(os.environ.get("ARROWPORT_NATIVE") == "1",
                    reason="a native host builds without root")
@pytest.mark.release_only("bundles the release build")
def test_without_root_a_clone_runs_the_portable_tarball_in_its_dist(bare_clone):
    """The tarball of this build (toolchain/portable.sh, as ./bin/arrowport package makes
    it) copied into a bare clone's dist/: the account without root runs it at once."""
    work = REPO / "build" / "test-clone-portable"
    shutil.rmtree(work, ignore_errors=True)
    name = "arrowport-0.0.0-linux-x86_64"
    made = subprocess.run([str(REPO / "toolchain" / "portable.sh"),
                           str(REPO / "build" / "release" / "arrowport"), "0.0.0", str(work)],
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    (bare_clone / "dist").mkdir()
    subprocess.run(f"tar -C {work} -cf - {name} | gzip -1 > {bare_clone}/dist/{name}.tar.gz",
                   shell=True, check=True, timeout=600)
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(bare_clone)], check=True)
    done = launch(bare_clone / "bin" / "arrowport", "--version", cwd=bare_clone, user=NOBODY,
                  env={"HOME": str(bare_clone), "ARROWPORT_CACHE": "/nonexistent"})
    assert done.returncode == 0 and done.stdout.startswith("arrowport "), done
    assert (bare_clone / "build" / "portable" / name / "bin" / "arrowport").is_file()
