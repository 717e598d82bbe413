"""What the packaging tests share (test_packaging.py, test_install_anywhere.py): the build's
version and dist/, commands in a chroot, the recorded timings, the unit's settings and the
docs' own command lines."""
import json
import os
import re
import subprocess
from pathlib import Path

from conftest import REPO
from docs_examples import parse_page

# The release build's own version (toolchain/build.sh wrote it from git describe), which
# package.sh names the files after; the image tag may hold no "+".
VERSION = re.search(r'ARROWPORT_VERSION_STRING "(.*)"', (
    REPO / "build/release/generated/arrowport/version_string.h").read_text()).group(1)
IMAGE_TAG = VERSION.replace("+", "-")
DIST = REPO / "dist"
CACHE = Path(os.environ.get("ARROWPORT_CACHE", "/var/cache/arrowport"))
# systemd's DynamicUser range starts here; no account of that uid exists in the root.
DYNAMIC_UID = 61184
TIMINGS = REPO / "build" / "test-artifacts" / "packaging-timings.json"


def record(name, seconds):
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    data[name] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(data, indent=1))


def run(cmd, timeout=900, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def chroot_cmd(root, *cmd, private_pid=False, net_ns=False):
    """CMD chrooted into ROOT in private mount (and pid, net) namespaces with /proc, /dev
    and apt's shared download cache mounted; the namespaces end with the command."""
    flags = ["--mount", "--fork", "--kill-child"]
    if private_pid:
        flags.append("--pid")
    if net_ns:
        flags.append("--net")
    archives = str(CACHE / "apt-archives")
    os.makedirs(f"{archives}/partial", exist_ok=True)
    script = """set -e
root=$1 archives=$2; shift 2
mount --make-rprivate /
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
[ -z "$NET" ] || ip link set lo up
if [ -d "$root/var/cache/apt/archives" ]; then mount --bind "$archives" "$root/var/cache/apt/archives"; fi
[ -n "$WRAP" ] || exec chroot "$root" "$@"
# A server: this shell stays the namespace's init, forwarding SIGTERM, so that when
# unshare dies (--kill-child kills this shell) the whole namespace goes with it: the
# server itself loses unshare's death signal when setpriv changes its uid.
chroot "$root" "$@" &
child=$!
trap 'kill -TERM $child' TERM INT
while :; do
  status=0; wait $child || status=$?
  kill -0 $child 2>/dev/null || exit $status
done
"""
    env_prefix = ["env", f"NET={'1' if net_ns else ''}", f"WRAP={'1' if private_pid else ''}"]
    return [*env_prefix, "unshare", *flags, "sh", "-c", script, "chroot-cmd", str(root),
            archives, *cmd]


def unit_settings(root):
    """The installed unit's [Service] settings (the last value of each key)."""
    text = (root / "usr/lib/systemd/system/arrowport.service").read_text()
    settings = {}
    for line in text.split("[Service]", 1)[1].splitlines():
        if line.startswith("["):
            break
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def docs_commands(page, block_id):
    """The commands of PAGE's block `<!-- docs-test: ... id BLOCK_ID -->` as a reader pastes
    them (continuation lines joined), with podman for docker and this build's version for
    the page's: the docs' own lines are what the test runs, not a copy of them."""
    block = next((b for b in parse_page(REPO / page) if b.directive("id") == block_id), None)
    assert block is not None, f"{page}: no block with `<!-- docs-test: id {block_id} -->`"
    # (The tarball's, the wheel's, the .deb's and the image archive's names.)
    text = re.sub(r"(arrowport(?:_server)?[-_])[0-9]+\.[0-9]+\.[0-9]+", rf"\g<1>{VERSION}",
                  block.text)
    text = re.sub(r"arrowport:[0-9]+\.[0-9]+\.[0-9]+", f"arrowport:{IMAGE_TAG}", text)
    commands, current = [], ""
    for line in text.splitlines():
        current += line + "\n"
        if not line.rstrip().endswith("\\"):
            if current.strip():
                commands.append(re.sub(r"^docker\b", "podman", current.strip()))
            current = ""
    return commands
