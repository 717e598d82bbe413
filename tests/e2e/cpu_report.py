"""Sums a lane's per-test CPU report (conftest.py, ARROWPORT_CPU_REPORT) and names the
tests that cost the most CPU seconds: on two cores a lane's wall time is mostly CPU, so
these are the ones to make cheaper (docs/testing.md, where the minutes go).

    python tests/e2e/cpu_report.py LANE_NAME REPORT.jsonl [TOP]"""
import json
import sys
from collections import defaultdict


def main(lane, path, top=12):
    try:
        with open(path) as report:
            tests = [json.loads(line) for line in report if line.strip()]
    except FileNotFoundError:
        return
    if not tests:
        return
    cpu = sum(t["cpu_s"] for t in tests)
    servers = sum(t["children_cpu_s"] for t in tests)
    print(f"== CPU of the {lane}: {len(tests)} tests, {cpu:.0f} CPU-s "
          f"({servers:.0f} in servers and other child processes, {cpu - servers:.0f} in the "
          f"test processes), {sum(t['wall_s'] for t in tests):.0f} s of test wall time")
    by_file = defaultdict(float)
    for t in tests:
        by_file[t["test"].split("::")[0].rsplit("/", 1)[-1]] += t["cpu_s"]
    files = sorted(by_file.items(), key=lambda kv: -kv[1])[:top]
    print("   files: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in files))
    for t in sorted(tests, key=lambda t: -t["cpu_s"])[:top]:
        print(f"   {t['cpu_s']:7.1f} CPU-s {t['wall_s']:7.1f} s  {t['test']}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
