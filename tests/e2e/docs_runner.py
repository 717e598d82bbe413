"""Runs one pass of a page's examples, inside the namespaces test_docs_examples.py made
for it (`python docs_runner.py SPEC.json`; the rules are at the top of docs_examples.py).
It is the namespace's first process: what the examples leave running (servers started with
`&`, MinIO) is its to stop, and ends with it in any case. Results go to the spec's JSON
file after every block, so a pass cut short still says how far it got."""
import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from docs_examples import MINIO_KEY, MINIO_SECRET, Block, console_commands

# A line that starts a server in the background ("&", not "&&"), a trailing comment aside.
BACKGROUND_SERVE = re.compile(r"\barrowport serve\b[^\n]*?(?<!&)&(?!&)\s*(#[^\n]*)?$",
                              re.MULTILINE)
ERROR_ANSWER = re.compile(r"""["']error["']\s*:\s*\{\s*["']code["']""")
# Names the command that failed (bash -e alone exits silently): a line before the block's.
ERR_TRAP = ("trap 's=$?; echo \"[docs-test] exit status $s from: $BASH_COMMAND\" >&2' "
            "ERR\n")
READY = "arrowport ready "
BLOCK_TIMEOUT_S = 300
READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL,
                 signal.SIGFPE}


class BlockFailed(Exception):
    pass


class Runner:
    def __init__(self, spec):
        self.spec = spec
        self.dir = Path(spec["dir"])
        self.scratch = Path(spec["scratch"])
        self.env = spec["env"]
        self.block_timeout = spec.get("block_timeout") or BLOCK_TIMEOUT_S
        self.results = []
        self.children = {}        # pid -> Popen: servers and MinIO this runner started
        self.reaped = []          # (pid, waitpid status) of every process reaped
        self.stuck = []           # pids that outlived SIGTERM by STOP_TIMEOUT_S
        self.server_log = None    # where the newest server writes (for failure reports)

    def run(self):
        _loopback_up()
        blocks = [Block(**raw) for raw in self.spec["blocks"]]
        by_id = {b.directive("id"): b for b in blocks if b.directive("id")}
        ran_ids = set()
        for block in blocks:
            wanted = block.directive("first")
            if wanted is not None and wanted not in ran_ids:
                self.run_one(by_id[wanted], f", run first for {block.where}")
                ran_ids.add(wanted)
            self.run_one(block)
            if block.directive("id"):
                ran_ids.add(block.directive("id"))
        self.stop([p for p in _pids() if _alive(p)])
        crashed = [f"pid {pid} died of signal {os.WTERMSIG(status)}"
                   for pid, status in self.reaped
                   if os.WIFSIGNALED(status) and os.WTERMSIG(status) in CRASH_SIGNALS]
        stuck = [f"pid {pid} outlived SIGTERM by {STOP_TIMEOUT_S} s"
                 for pid in self.stuck]
        if crashed or stuck:
            self.results.append({"where": self.spec["page"],
                                 "lang": "the page's processes", "status": "failed",
                                 "reason": "; ".join(crashed + stuck),
                                 "output": self.all_logs(), "seconds": 0,
                                 "server_log": None})
        self.save()

    def save(self):
        Path(self.spec["results"]).write_text(json.dumps(self.results))

    def run_one(self, block, note=""):
        n = len(self.results)
        result = {"where": block.where, "lang": block.lang + note, "status": "passed",
                  "output": "", "seconds": 0.0, "server_log": None}
        started = time.monotonic()
        try:
            self.run_block(n, block, result)
        except BlockFailed as e:
            result.update(status="failed", reason=str(e))
        result["seconds"] = round(time.monotonic() - started, 2)
        own_log = self.server_log == self.scratch / f"block-{n}.out"
        if result["status"] == "failed" and self.server_log and not own_log:
            result["server_log"] = _tail(self.server_log, 2500)
        self.results.append(result)
        self.save()

    def run_block(self, n, block, result):
        if block.directive("skip") is not None:
            result.update(status="skipped", reason=block.directive("skip"))
            return
        if block.directive("slow") is not None and not self.spec["slow"]:
            result.update(status="skipped",
                          reason=f"slow lane: {block.directive('slow')}")
            return
        for word, args in block.directives:
            if word == "minio":
                self.start_minio()
            elif word == "server":
                self.stop(self.server_pids())
                self.start_server(n, args)
        if block.directive("file") is not None:
            (self.dir / block.directive("file")).write_text(block.text)
            return
        out_path = self.scratch / f"block-{n}.out"
        servers = len(BACKGROUND_SERVE.findall(block.text))
        if servers:
            self.stop(self.server_pids())
            self.server_log = out_path
        if block.kind == "python":
            script, text = self.scratch / f"block-{n}.py", block.text
            argv = [sys.executable, str(script)]
        else:
            script = self.scratch / f"block-{n}.sh"
            text = console_commands(block.text) if block.kind == "console" else block.text
            text = ERR_TRAP + text
            argv = ["bash", "-e", str(script)]
        script.write_text(text)
        with open(out_path, "wb") as out:
            # A session of its own: what the block leaves in the background is its group.
            proc = subprocess.Popen(argv, cwd=self.dir, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=self.block_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result["output"] = _tail(out_path)
            raise BlockFailed(f"did not finish within {self.block_timeout} s")
        result["output"] = _tail(out_path)
        if rc != 0:
            raise BlockFailed(f"exit status {rc}")
        if ERROR_ANSWER.search(out_path.read_text(errors="replace")):
            raise BlockFailed('its output holds an error answer '
                              '({"error": {"code": ...}})')
        if servers:
            self.wait_ready(out_path, servers, result, proc.pid)

    def wait_ready(self, out_path, servers, result, group):
        """Waits for the ready lines of the servers a block started in the background,
        while a process of its group lives."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if out_path.read_text(errors="replace").count(READY) >= servers:
                return
            if not _group_alive(group):
                time.sleep(0.2)   # its last words
                result["output"] = _tail(out_path)
                raise BlockFailed("the server it starts in the background exited before "
                                  "its ready line")
            time.sleep(0.1)
        result["output"] = _tail(out_path)
        raise BlockFailed(f"the server it starts in the background printed no ready line "
                          f"in {READY_TIMEOUT_S} s")

    def start_server(self, n, args):
        """docs-test `server ARGS`: `./bin/arrowport serve ARGS` (a shell parses ARGS, as
        for a reader), ready before the block runs."""
        log = self.server_log = self.scratch / f"server-{n}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", f"exec ./bin/arrowport serve {args}"],
                                    cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        self.children[proc.pid] = proc
        deadline = time.monotonic() + READY_TIMEOUT_S
        while READY not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BlockFailed(f"`./bin/arrowport serve {args}` (docs-test `server`) "
                                  f"did not start:\n{_tail(log)}")
            time.sleep(0.1)

    def start_minio(self):
        """docs-test `minio`: MinIO on the docs' 127.0.0.1:9000, bucket `lake`, its data
        kept between the passes."""
        data = Path(self.spec["minio_data"])
        (data / "lake").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in self.env.items() if not k.startswith(("AWS_", "MINIO_"))}
        env.update(MINIO_ROOT_USER=MINIO_KEY, MINIO_ROOT_PASSWORD=MINIO_SECRET,
                   MINIO_BROWSER="off", MINIO_UPDATE="off")
        log = self.scratch / "minio.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([self.spec["minio"], "server", str(data), "--quiet",
                                     "--address", "127.0.0.1:9000",
                                     "--console-address", "127.0.0.1:9001"],
                                    env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.children[proc.pid] = proc
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", 9000), timeout=1):
                    return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BlockFailed(f"MinIO (docs-test `minio`, {self.spec['minio']}) "
                                      f"did not start:\n{_tail(log)}")
                time.sleep(0.1)

    def server_pids(self):
        """The Arrowport servers running in this namespace, whoever started them."""
        out = []
        for pid in _pids():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (_alive(pid) and b"serve" in argv
                    and any(a.endswith(b"/arrowport") for a in argv)):
                out.append(pid)
        return out

    def stop(self, pids):
        """SIGTERM (the reader's Ctrl-C: a server finishes its calls and checkpoints),
        SIGKILL for what outlives it by STOP_TIMEOUT_S; reaps what ended."""
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            self.reap()
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                self.stuck.append(pid)
                _signal(pid, signal.SIGKILL)
        self.reap()

    def reap(self):
        """Collects the exit status of the processes that ended: this runner's own
        children, and the orphans (a block's background servers) the kernel handed to it
        as the namespace's first process. Only between blocks: no block is running."""
        for pid, proc in list(self.children.items()):
            if proc.poll() is not None:
                self.reaped.append((pid, _wait_status(proc.returncode)))
                del self.children[pid]
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped.append((pid, status))

    def all_logs(self):
        logs = [*sorted(self.scratch.glob("server-*.log")),
                *sorted(self.scratch.glob("*.out"))]
        return "\n".join(f"{p.name}:\n{_tail(p, 1500)}" for p in logs)


def _pids():
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and int(e.name) != os.getpid()]


def _stat(pid):
    """/proc/PID/stat's fields after the command name (state, ppid, pgrp...), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _alive(pid):
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _group_alive(pgid):
    return any(f is not None and f[0] != "Z" and int(f[2]) == pgid
               for f in map(_stat, _pids()))


def _wait_status(returncode):
    """A Popen returncode as a waitpid status, for the crash check."""
    return (-returncode) & 0x7F if returncode < 0 else (returncode & 0xFF) << 8


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _tail(path, limit=4000):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _loopback_up():
    """`ip link set lo up` in the fresh network namespace, without needing iproute2."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


if __name__ == "__main__":
    Runner(json.loads(Path(sys.argv[1]).read_text())).run()
