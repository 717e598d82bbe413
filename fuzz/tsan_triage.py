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

Lock reports (a lock-order cycle, a double lock) are dropped only when DuckDB's code
decides every stack that touches their mutexes (where each was locked, created, or
allocated; a std template of libduckdb over DuckDB's own types, such as the shared_ptr
deleter that returns a duckdb::DataChunk to its pool under the pool's lock, is DuckDB's) and a cycle's edges run on at most one thread of ours, the others being
DuckDB's own workers: DuckDB 2.0's shared pipeline exchanges (a plan read by several
operators) lock their pools in both orders, which is DuckDB's lock order, not ours to
change. A mutex of ours, another library's, two threads of ours meeting in DuckDB's locks
(one connection used by both), or a report cut short are kept.

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
# The allocation and reference-count templates, whatever type they are instantiated over:
# their frame frees or counts; the code that called them decided to (a library dropping the
# last reference to an object of ours is the library's frame).
BOOKKEEPING = re.compile(r"^(?:[\w:<>,*&\s]+?[\s*&])?(?:operator new|operator delete|"
                         r"__gnu_cxx::(?:__exchange_and_add|__atomic_add)|"
                         r"std::(?:__new_allocator|allocator|allocator_traits|__allocated_ptr|"
                         r"_Sp_counted_base|__shared_count|__weak_count)\b)")
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


def deciding_frame(frames, symbols, duckdbs_own_types=False):
    """('ours' | 'library' | 'unknown', module) for one stack (innermost frame first): its
    innermost frame that is not a std template or an interceptor decides. With
    `duckdbs_own_types` (lock reports), a std template of libduckdb instantiated over
    DuckDB's types decides too."""
    for function, module, offset in frames:
        if module.startswith(MAIN_MODULES):
            if BOOKKEEPING.match(function):
                continue
            if "arrowport::" in function:
                return "ours", module
            if function in ("<null>", "?", "??") or function.startswith("??"):
                return "unknown", module
            if TRANSPARENT.match(function):
                continue
            return "ours", module  # main(), a lambda or helper of ours outside the namespace
        name = symbols.name(module, int(offset, 16))
        if TRANSPARENT.match(name) and not (duckdbs_own_types and
                                            names_duckdbs_types(module, name)):
            continue  # a std template the library's call landed in
        return "library", module
    return "unknown", ""


def names_duckdbs_types(module, name):
    """Whether a std template frame of libduckdb is instantiated over DuckDB's own types
    ("std::_Sp_counted_deleter<duckdb::DataChunk*, ...>"): code only DuckDB can have made,
    where it takes its locks. Not for data races: there such a frame is also where our
    code drops the last reference to something DuckDB made, which is ours to explain."""
    return module.startswith("libduckdb.") and "duckdb::" in name


def accessing_code(frames, symbols):
    return deciding_frame(frames, symbols)[0]


def deciding_module(frames, symbols):
    """The library whose frame decides a lock site's stack; '' when ours or unknown."""
    verdict, module = deciding_frame(frames, symbols, duckdbs_own_types=True)
    return module if verdict == "library" else ""


LOCK_REPORT = re.compile(r"WARNING: ThreadSanitizer: (lock-order-inversion|double lock "
                         r"of a mutex)")
# The stacks of a lock report that touch its mutexes: where each edge of a cycle locked
# (and, with second_deadlock_stack=1, where it held the other), and where a double-locked
# mutex lives and was first seen (for a std::mutex, its first lock).
LOCK_SITE = re.compile(r"^  (?:Mutex M\d+ acquired here while holding mutex M\d+ in thread "
                       r"(T\d+):|Mutex M\d+ previously acquired by the same thread here:|"
                       r"Mutex M\d+ \(0x[0-9a-f]+\) created at:|Location is heap block)")
CYCLE = re.compile(r"^  Cycle in lock order graph: (.*)$", re.M)
THREAD = re.compile(r"^  Thread (T\d+) .*created by .* at:$")
UNREADABLE_FRAME = ("??", "arrowport", "0x0")  # a frame line FRAME cannot read: unknown


def stack_line(line, current):
    """Adds a frame line to `current`; False when `line` is not one."""
    match = FRAME.match(line)
    if match:
        current.append(match.groups())
    elif re.match(r"^\s+#\d+ ", line):
        current.append(UNREADABLE_FRAME)
    else:
        return False
    return True


def started_by_duckdb(creation):
    """Whether a thread's creation stack is one of DuckDB's workers': the first frame of
    ours is the database's opening (DuckDB's own frames below it are not unwound). Our
    threads started while it opens do so from functions of their own (the checkpointer's
    Database::StartCheckpointer)."""
    for function, module, _ in creation:
        if not module.startswith(MAIN_MODULES) or TRANSPARENT.match(function):
            continue
        return "Database::Open" in function or "OpenDatabase" in function
    return False


def lock_sites(report):
    """The stacks that touch a lock report's mutexes, the threads of a cycle's edges, and
    the threads DuckDB started (their creation stack passes through opening the database).
    None when the report is not whole: a cycle with fewer edges than it names."""
    sites, edge_threads, duckdb_threads = [], [], set()
    current, creating = None, None
    for line in report.splitlines():
        site = LOCK_SITE.match(line)
        thread = THREAD.match(line)
        if "WARNING: ThreadSanitizer: double lock" in line or site:
            current, creating = [], None
            sites.append(current)
            if site and site.group(1):
                edge_threads.append(site.group(1))
        elif thread:
            current, creating = None, (thread.group(1), [])
        elif creating is not None and stack_line(line, creating[1]):
            if started_by_duckdb(creating[1]):
                duckdb_threads.add(creating[0])
        elif current is not None and stack_line(line, current):
            pass
        elif line.strip() and not line.startswith("    "):
            current, creating = None, None
    cycle = CYCLE.search(report)
    if "lock-order-inversion" in report and (
            cycle is None or cycle.group(1).count("=>") != len(edge_threads)):
        return None
    return sites, edge_threads, duckdb_threads


def lock_report_is_duckdbs(report, symbols):
    """True when every stack touching the mutexes is decided by a DuckDB frame, and a
    cycle's edges run on one thread of ours at most (others are DuckDB's own workers):
    DuckDB's lock order, not a deadlock our calls could make. Two threads of ours meeting
    in DuckDB's locks (say, one connection used by both) are kept."""
    parsed = lock_sites(report)
    if parsed is None:
        return False
    sites, edge_threads, duckdb_threads = parsed
    if not sites or not all(deciding_module(frames, symbols).startswith("libduckdb.")
                            for frames in sites):
        return False
    return len(set(edge_threads) - duckdb_threads) <= 1


def triage(text, symbols):
    kept, ignored = [], 0
    for report in re.split(r"^==================\n", text, flags=re.M):
        if "WARNING: ThreadSanitizer:" not in report:
            continue
        if LOCK_REPORT.search(report):
            if lock_report_is_duckdbs(report, symbols):
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
            elif current is not None and stack_line(line, current):
                pass
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
              "(races on both sides, DuckDB's own lock order), ignored", file=sys.stderr)
    for report in kept:
        sys.stdout.write("==================\n" + report)
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
