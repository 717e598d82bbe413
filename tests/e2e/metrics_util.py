"""Reading Arrowport's Prometheus text exposition in tests, and running the toolchain's
real tools (promtool, prometheus, chromium) from the root."""
import os
import re
import subprocess
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
TOOL = str(REPO / "toolchain" / "tool")
# Where tests leave what a person may want to look at (screenshots); not cleaned.
ARTIFACTS = REPO / "build" / "test-artifacts"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = tuple(sorted(LABEL.findall(labels or "")))
        samples[(name, pairs)] = float(value)
    return samples


def scrape(url, auth=None, headers=None):
    response = requests.get(url, auth=auth, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def total(samples, name, **labels):
    """The sum of `name` over the series whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(value for (sample, pairs), value in samples.items()
               if sample == name and want <= set(pairs))


def series(samples, name):
    """The label sets of `name`'s series, as dicts."""
    return [dict(pairs) for (sample, pairs) in samples if sample == name]


def tool(*args, timeout=120, **kwargs):
    """Runs a program of the toolchain root (see toolchain/tool)."""
    return subprocess.run([TOOL, *args], capture_output=True, timeout=timeout, **kwargs)


def start_tool(*args, **kwargs):
    return subprocess.Popen([TOOL, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            **kwargs)


def chromium(*args, timeout=90):
    """Headless Chromium in the root, as a careful CI runs it: no sandbox (root), no GPU,
    nothing fetched from the network but what the page asks for."""
    profile = f"/tmp/arrowport-chromium-{os.getpid()}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
             f"--user-data-dir={profile}"]
    return tool("--chroot", "chromium", *flags, *args, timeout=timeout, cwd=REPO)
