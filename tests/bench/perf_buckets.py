"""Where a server's CPU goes, by part, from a system-wide `perf` profile with DWARF call
graphs (kernel time included, which callgrind leaves out): each sample of the server's
process is put in the first part (in the order below) any frame of its stack names.

    perf record -a -F 1999 --call-graph dwarf,16384 -o /tmp/p.data -- sleep 3  # under load
    perf script -i /tmp/p.data --pid SERVER_PID -F comm,tid,ip,sym,dso > /tmp/p.txt
    python tests/bench/perf_buckets.py /tmp/p.txt [CPU_MS_PER_CALL]

With the server's CPU per call (per_call_cpu.py) the shares are also printed in ms per call.
The libraries' own symbols are partly stripped: a part is found by the frames that keep
their names (DuckDB's, gRPC's and Flight's exported ones, all of ours)."""
import collections
import sys

PARTS = [
    ("query pipeline: sandbox, DuckDB bind/plan, start (ours + DuckDB)",
     "QueryPipeline::Execute"),
    ("result reader on the gRPC thread (DuckDB tasks run there, units)",
     "ResultBatchReader::ReadNext"),
    ("Flight: a batch's send (serialize, gRPC write, kernel send)", "WritePayload"),
    ("Flight: the stream's end (reader and DuckDB stream closed)", "~RecordBatchStream"),
    ("Flight: the schema's send", "SchemaPayload"),
    ("DuckDB's workers (their share of the scan and conversion, waits)", "ExecuteForever"),
    ("ours around the pipeline: call runner (admission, auth, log line, metrics)",
     "arrowport::flight::"),
    ("Flight's transport around the handler", "ServerTransport::"),
    ("gRPC's call handling (interceptors, metadata, status)", "SyncRequest::Run"),
    ("gRPC's polling for calls", "PollForWork"),
    ("gRPC's threads otherwise", "ThreadManager"),
]


def samples(path):
    frames, head = [], None
    with open(path, errors="replace") as lines:
        for line in lines:
            if not line.strip():
                if head is not None:
                    yield frames
                frames, head = [], None
            elif not line[0].isspace():
                head = line
            else:
                frames.append(line.strip())
    if head is not None:
        yield frames


def main():
    path = sys.argv[1]
    per_call_ms = float(sys.argv[2]) if len(sys.argv) > 2 else None
    counts, kernel, total = collections.Counter(), 0, 0
    for frames in samples(path):
        total += 1
        kernel += bool(frames) and "[kernel" in frames[0]
        for name, key in PARTS:
            if any(key in frame for frame in frames):
                counts[name] += 1
                break
        else:
            counts["other"] += 1
    if total == 0:
        sys.exit("no samples: was --pid the server's?")
    for name, _ in PARTS + [("other", None)]:
        share = counts[name] / total
        ms = f"  {share * per_call_ms:.3f} ms" if per_call_ms else ""
        print(f"{100 * share:5.1f}%{ms}  {name}")
    print(f"{100 * kernel / total:5.1f}% of the samples in the kernel; {total} samples")


if __name__ == "__main__":
    main()
