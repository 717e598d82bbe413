#!/usr/bin/env python3
"""Sorts symbolized ThreadSanitizer reports (fuzz/symbolize_tsan's output, on stdin) into
ours and the libraries'. Prints ours and exits 1 when there is any; reports made inside
uninstrumented libraries are counted on stderr only.

Why: only our code is instrumented. std templates (shared_ptr control blocks, std::string
members) are compiled into every library and into our binary, and the dynamic linker binds
every library's calls to one copy of each, often ours or libarrow_compute's. A library's
own access then reaches TSan through a std frame that is not the library's, which no
runtime suppression can name (the server runs through the root's loader, without a
symbolizer: its frames are bare offsets). The accessing code is the innermost frame that is
not a std template or an interceptor: when that frame is in a library for both accesses
of a race (for example gRPC releasing a Flight buffer's last reference on one thread after
our reader released another on its own), the hand-over between them happened with atomics
TSan cannot see, and the report says nothing about our code. So is a library's access
racing only with atomic ones of ours (the shared_ptr released on our side, the block freed
by the library after its own, invisible, last decrement). Anything else is kept:
a frame of arrowport:: first, a frame that cannot be named, or another kind of report.

Lock reports (a lock-order cycle, a double lock) are dropped when every lock site in them
is a library's: DuckDB 2.0's shared pipeline exchanges (a CTE read by several operators)
lock their pools in both orders on one thread, and TSan, which sees neither the mutexes'
destruction nor DuckDB's atomics, also takes a reused pool's mutex for a locked one. A
cycle or double lock through a mutex of ours has a lock site in our code and is kept.

    fuzz/tsan_triage.py REPO < symbolized-reports
"""
import bisect
import re
import subprocess
import sys

MAIN_MODULES = ("ld-linux-x86-64.so.2", "arrowport")  # our binaries (see symbolize_tsan)
FRAME = re.compile(r"^\s+#\d+ (.*?) \(([^()\s]+)\+(0x[0-9a-f]+)\)")
ACCESS = re.compile(r"^  (Previous )?(atomic )?(read|write) of size", re.I)
# std templates, allocation and TSan's interceptors, after any return type ("char* std::").
TRANSPARENT = re.compile(r"^(?:[\w:<>,*&\s]+?[\s*&])?(?:std::|__gnu_cxx::|operator new|"
                         r"operator delete|_+interceptor_|__tsan|__cxa_)")


class LibrarySymbols:
    """Names a library offset by the nearest exported symbol at or below it."""

    def __init__(self, repo):
        self.repo = repo
        self.tables = {}

    def name(self, module, offset):
        if module not in self.tables:
            self.tables[module] = self._load(module)
        addresses, names = self.tables[module]
        i = bisect.bisect_right(addresses, offset) - 1
        return names[i] if i >= 0 else ""

    def _load(self, module):
        command = (f"source '{self.repo}/toolchain/env.sh' >/dev/null 2>&1 && "
                   f"arrowport_in_root nm -D --defined-only -C "
                   f"/usr/lib/x86_64-linux-gnu/{module}")
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        if done.returncode != 0 or not done.stdout:
            # Without the library's symbols no frame of it can be told from a std one.
            print(f"tsan_triage: cannot read the symbols of {module}: {done.stderr[-300:]}",
                  file=sys.stderr)
            sys.exit(2)
        out = done.stdout
        rows = []
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1].lower() in ("t", "w"):
                rows.append((int(parts[0], 16), parts[2]))
        rows.sort()
        return [r[0] for r in rows], [r[1] for r in rows]


def accessing_code(frames, symbols):
    """'ours', 'library' or 'unknown' for one access's stack (innermost frame first)."""
    for function, module, offset in frames:
        if module.startswith(MAIN_MODULES):
            if "arrowport::" in function:
                return "ours"
            if function in ("<null>", "?", "??") or function.startswith("??"):
                return "unknown"
            if TRANSPARENT.match(function):
                continue
            return "ours"  # main(), a lambda or helper of ours outside the namespace
        name = symbols.name(module, int(offset, 16))
        if TRANSPARENT.match(name):
            continue  # a std template the library's call landed in
        return "library"
    return "unknown"


LOCK_REPORT = re.compile(r"WARNING: ThreadSanitizer: (lock-order-inversion|double lock "
                         r"of a mutex)")
# Where a lock-order report's mutexes were locked (not where they were created).
LOCK_SITE = re.compile(r"^  Mutex M\d+ acquired here while holding mutex")


def lock_sites(report):
    """The stacks of a lock report that lock a mutex: a double lock's own stack (right
    under its WARNING line) and each edge of a lock-order cycle."""
    sites, current = [], None
    for line in report.splitlines():
        if "WARNING: ThreadSanitizer: double lock" in line or LOCK_SITE.match(line):
            current = []
            sites.append(current)
        elif current is not None and FRAME.match(line):
            current.append(FRAME.match(line).groups())
        elif current is not None and line.strip() and not line.startswith("    "):
            current = None
    return sites


def triage(text, symbols):
    kept, ignored = [], 0
    for report in re.split(r"^==================\n", text, flags=re.M):
        if "WARNING: ThreadSanitizer:" not in report:
            continue
        if LOCK_REPORT.search(report):
            # DuckDB's own mutexes, locked and re-locked by its own code (its plans'
            # shared exchanges): reported when every lock site is in a library. A cycle
            # through a mutex of ours has a lock site in our code and is kept.
            sites = lock_sites(report)
            if sites and all(accessing_code(frames, symbols) == "library" for frames in sites):
                ignored += 1
            else:
                kept.append(report)
            continue
        if "WARNING: ThreadSanitizer: data race" not in report:
            kept.append(report)
            continue
        stacks, current = [], None
        for line in report.splitlines():
            access = ACCESS.match(line)
            if access:
                current = []
                stacks.append((access.group(2) is not None, current))
            elif current is not None and FRAME.match(line):
                current.append(FRAME.match(line).groups())
            elif current is not None and not line.startswith("    "):
                current = None
        verdicts = [(atomic, accessing_code(frames, symbols)) for atomic, frames in stacks]
        libraries = [v for _, v in verdicts].count("library")
        # Both sides the libraries', or a library's plain access racing only with atomic
        # ones (a shared_ptr released by us, then its last reference dropped and the block
        # freed inside a library, whose own atomic decrement TSan never saw).
        if len(verdicts) >= 2 and libraries >= 1 and all(
                v == "library" or (atomic and v == "ours") for atomic, v in verdicts):
            ignored += 1
        else:
            kept.append(report)
    return kept, ignored


def main():
    kept, ignored = triage(sys.stdin.read(), LibrarySymbols(sys.argv[1]))
    if ignored:
        print(f"tsan_triage: {ignored} report(s) made inside uninstrumented libraries "
              "on both sides, ignored", file=sys.stderr)
    for report in kept:
        sys.stdout.write("==================\n" + report)
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
