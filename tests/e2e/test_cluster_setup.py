"""docs/cluster.md's setup as an operator runs it (issue 68): under a real systemd (booted in a
podman container from a forky root with the .deb, HAProxy, PostgreSQL and sudo installed by
apt), the page's own blocks: the cluster key, the catalog's database on PostgreSQL, the
node config (the page's YAML, only its secrets filled in and each node bound to its own
address: the three run on one machine here) as /etc/arrowport/{a,b,c}.yaml, nodes started
from the package's template (`systemctl enable --now arrowport@a`, @b, @c), the shipped
HAProxy config put in place and reloaded as the page says. MinIO (the S3 store) runs in the
container as a transient unit. The page's host names resolve to addresses of the
container's loopback: 10.0.0.1-3 (the nodes, as in the shipped HAProxy config), .10 (the
balancer), .20 (PostgreSQL), .30 (S3). Through the balancer: rows into the Delta table and
the DuckLake table, read back; a lake table's endpoints name all three nodes and their
parts add up to the rows; `systemctl stop arrowport@b` and reads through the balancer go
on. Slow: the packages are made first, and a cached root is made once (minutes)."""
import functools
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from docs_examples import parse_page
from lake_util import ACCESS_KEY, SECRET_KEY, minio_binary
from packaging_util import CACHE, chroot_cmd, docs_commands, run
from test_auth import hash_password
from test_packaging import DEB, PIVOT, packages, podman_root, runtime_root  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.release_only("packages the release build")]

PAGE = "docs/cluster.md"
ROOT_PACKAGES = ["systemd", "haproxy", "postgresql", "sudo", "openssl", "curl"]
ADDRESSES = {"a.example.internal": "10.0.0.1", "b.example.internal": "10.0.0.2",
             "c.example.internal": "10.0.0.3", "arrowport.example.internal": "10.0.0.10",
             "db.example.internal": "10.0.0.20", "s3.example.internal": "10.0.0.30"}
NODES = {"a": "10.0.0.1", "b": "10.0.0.2", "c": "10.0.0.3"}
BALANCER = ADDRESSES["arrowport.example.internal"]
PASSWORDS = {"producer": "p-secret-9d1", "analyst": "a-secret-77e"}
CATALOG_PASSWORD = "catalog-pw-31f"
TOKEN_SECRET = "t" * 64
# Each step's wait, for a 2-core machine twice as slow as this one.
STEP_TIMEOUT = 600

# Inside the podman root: systemd booted in a container from the test's root, left running
# until the test ends (the test enters it with nsenter). Privileged: the units' sandboxing
# makes mount namespaces. --no-hosts: the root's /etc/hosts (the page's host names).
BOOT = """set -e
export PODMAN_IGNORE_CGROUPSV1_WARNING=1
p() { podman --root /tmp/cluster-setup-test --events-backend=file "$@"; }
p run -d --name sd --privileged --cgroups=disabled --network none --no-hosts \\
  --systemd=always --rootfs /mnt/sysroot /usr/lib/systemd/systemd >/dev/null
echo booted
exec sleep infinity
"""


def base_root(runtime_root):
    """The minimal forky root with systemd, HAProxy, PostgreSQL, sudo, openssl and curl
    installed by apt (no service started: policy-rc.d), made once and cached."""
    root = CACHE / "cluster-setup-forky"
    stamp = root / ".arrowport-cluster-setup-packages"
    if not stamp.exists() or stamp.read_text() != " ".join(ROOT_PACKAGES):
        shutil.rmtree(root, ignore_errors=True)
        run(["cp", "-a", str(runtime_root), str(root)])
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        run(chroot_cmd(root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install",
                       "-y", "-q", "--no-install-recommends", *ROOT_PACKAGES), timeout=1800)
        policy.unlink()
        stamp.write_text(" ".join(ROOT_PACKAGES))
    return root


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class Machine:
    """The booted container: commands in it (all its namespaces), clients in its network."""

    def __init__(self, proc, log_path):
        self.proc = proc
        self.pid = None
        deadline = time.monotonic() + STEP_TIMEOUT
        while self.pid is None:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the container's systemd did not appear"
            for pid in descendants(proc.pid):
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        self.pid = pid
                        break
                except OSError:
                    continue
            time.sleep(0.2)
        self.wait_booted(deadline)

    def wait_booted(self, deadline):
        while True:
            state = self.sh("systemctl is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            assert time.monotonic() < deadline, f"systemd did not boot: {state}"
            time.sleep(0.2)

    def sh(self, script, check=True, timeout=STEP_TIMEOUT):
        """SCRIPT in bash -e as root in the container, in /root/setup."""
        proc = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-u", "-i", "-n", "-p", "--",
             "env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME=/root", "LANG=C.UTF-8", "bash", "-ec", f"cd /root/setup\n{script}"],
            capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"{script}\n--> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def host_cmd(self, *cmd):
        """A program of this machine in the container's network namespace."""
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", *cmd]

    def journal(self, unit):
        return self.sh(f"journalctl -u {unit} --no-pager -o cat | tail -n 40", check=False).stdout


@functools.cache
def password_hashes():
    return {user: hash_password(password) for user, password in PASSWORDS.items()}


def node_config(name):
    """The page's node config as the page's operator fills it in: the secrets for the
    placeholders, and (three nodes on one machine here) each node bound to its own address."""
    block = next(b for b in parse_page(REPO / PAGE) if b.directive("id") == "node-config")
    text = block.text
    fills = {"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY,
             "token_secret": TOKEN_SECRET}
    for key, value in fills.items():
        text, n = re.subn(rf'({key}: )"<[^">]*>"', rf'\g<1>"{value}"', text)
        assert n == 1, f"{PAGE}: no `{key}: \"<...>\"` in the node config"
    text, n = re.subn(r"password=<[^>\"]*>", f"password={CATALOG_PASSWORD}", text)
    assert n == 1, f"{PAGE}: no catalog password=<...> in the node config"
    for user, hashed in password_hashes().items():
        text, n = re.subn(rf'(name: {user},.*password_hash: )"<[^">]*>"',
                          lambda m: f'{m.group(1)}"{hashed}"', text)
        assert n == 1, f"{PAGE}: no user {user} with a password_hash placeholder"
    assert "<" not in text, text
    text, n = re.subn(r"host: 0\.0\.0\.0", f"host: {NODES[name]}", text)
    assert n == 2, text
    # Small parts, so that a few MiB make an endpoint for every node.
    return text + "lake: {read_part_mb: 1}\n"


def make_root(runtime_root, tmp_path):
    root = tmp_path / "root"
    run(["cp", "-a", str(base_root(runtime_root)), str(root)])
    shutil.copy(DEB, root / "tmp" / DEB.name)
    run(chroot_cmd(root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                   "-q", "--no-install-recommends", f"/tmp/{DEB.name}"), timeout=1800)
    shutil.copy(minio_binary(), root / "usr/local/bin/minio")
    with open(root / "etc/hosts", "a") as hosts:
        hosts.writelines(f"{ip} {name}\n" for name, ip in ADDRESSES.items())
    setup = root / "root/setup"
    setup.mkdir(parents=True)
    for name in NODES:
        (setup / f"{name}.yaml").write_text(node_config(name))
    return root


@pytest.fixture
def machine(runtime_root, tmp_path):
    began = time.monotonic()
    root = make_root(runtime_root, tmp_path)
    log(began, "root made")
    podman = podman_root(runtime_root)
    shutil.rmtree(podman / "tmp" / "cluster-setup-test", ignore_errors=True)
    log_path = tmp_path / "boot.log"
    with open(log_path, "w") as boot_log:
        proc = subprocess.Popen(
            ["env", f"SYSROOT={root}", "unshare", "--mount", "--pid", "--net", "--fork",
             "--kill-child", "sh", "-c", PIVOT, "pivot", str(podman), "/bin/sh", "-c", BOOT],
            stdout=boot_log, stderr=subprocess.STDOUT)
    try:
        booted = Machine(proc, log_path)
        log(began, "booted")
        for ip in sorted(set(ADDRESSES.values())):
            run(booted.host_cmd("ip", "addr", "add", f"{ip}/32", "dev", "lo"))
        yield booted
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(podman / "tmp" / "cluster-setup-test", ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def page_commands(block_id, replace=()):
    commands = docs_commands(PAGE, block_id)
    for old, new in replace:
        commands = [c.replace(old, new) for c in commands]
    return commands


# The clients, run by this test's Python in the container's network namespace: through the
# balancer's address, as producer (writes) and analyst (reads); a lake table's endpoints
# fetched at their first location (the page's host names, mapped to their addresses here).
CLIENT = r"""
import json, sys
import pyarrow.flight as flight
import requests
sys.path.insert(0, sys.argv[1])
from lake_util import ipc_bytes, noisy_events, put_cmd
action, addresses, passwords = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
balancer = addresses["arrowport.example.internal"]
http = f"http://{balancer}:8888"

def connect(user, host=balancer):
    client = flight.connect(f"grpc://{host}:8815")
    token = client.authenticate_basic_token(user, passwords[user])
    return client, flight.FlightCallOptions(headers=[token], timeout=120)

def write():
    client, options = connect("producer")
    for i in range(6):
        rows = noisy_events(range(i * 60000, (i + 1) * 60000))
        descriptor = flight.FlightDescriptor.for_command(
            json.dumps({"stream": "events", "request_id": f"events-{i}"}))
        writer, metadata = client.do_put(descriptor, rows.schema, options=options)
        writer.write_table(rows)
        writer.done_writing()
        reply = json.loads(metadata.read().to_pybytes())
        writer.close()
        assert reply["committed"], reply
        r = requests.post(f"{http}/ingest/clicks", data=ipc_bytes(rows),
                          auth=("producer", passwords["producer"]), timeout=300,
                          headers={"Content-Type": "application/vnd.apache.arrow.stream",
                                   "Idempotency-Key": f"clicks-{i}"})
        assert r.status_code == 200 and r.json()["committed"], r.text

def read():
    counts = {}
    for table in ("events", "clicks"):
        r = requests.post(f"{http}/query?format=csv", auth=("analyst", passwords["analyst"]),
                          json={"sql": f"SELECT count(*) AS n FROM {table}"}, timeout=300)
        assert r.status_code == 200, r.text
        counts[table] = int(r.text.replace('"', "").split()[1])
    client, options = connect("analyst")
    info = client.get_flight_info(flight.FlightDescriptor.for_path("events"), options)
    named, first, rows = set(), [], 0
    for endpoint in info.endpoints:
        hosts = [location.uri.decode().split("//")[1].split(":")[0]
                 for location in endpoint.locations]
        named.update(hosts)
        first.append(hosts[0])
        for host in hosts:  # its first location, else the next (a node stopped)
            try:
                node, node_options = connect("analyst", addresses[host])
                rows += node.do_get(endpoint.ticket, node_options).read_all().num_rows
                break
            except flight.FlightUnavailableError:
                assert host != hosts[-1], hosts
    print(json.dumps({"counts": counts, "named": sorted(named), "first": sorted(set(first)),
                      "endpoints": len(info.endpoints), "rows": rows}))

{"write": write, "read": read}[action]()
"""


def log(began, what):
    print(f"{time.monotonic() - began:6.1f} s: {what}", flush=True)


def clients(machine, action):
    proc = subprocess.run(
        machine.host_cmd(sys.executable, "-c", CLIENT, str(REPO / "tests" / "e2e"), action,
                         json.dumps(ADDRESSES), json.dumps(PASSWORDS)),
        capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(
        machine.journal(unit) for unit in ("arrowport@a", "arrowport@b", "arrowport@c",
                                           "haproxy"))
    return json.loads(proc.stdout.splitlines()[-1]) if action == "read" else None


def test_the_pages_setup_runs_under_systemd(machine):
    began = time.monotonic()
    # The S3 store: MinIO as a transient unit (the page assumes a store with a bucket).
    machine.sh(f"""mkdir -p /srv/minio/lake
systemd-run --unit minio -p Environment=MINIO_ROOT_USER={ACCESS_KEY} \\
  -p Environment=MINIO_ROOT_PASSWORD={SECRET_KEY} -p Environment=MINIO_BROWSER=off \\
  /usr/local/bin/minio server /srv/minio --quiet --address {ADDRESSES['s3.example.internal']}:9000
i=0
until curl -sf -o /dev/null http://{ADDRESSES['s3.example.internal']}:9000/minio/health/ready; do
  i=$((i + 1)); [ $i -lt 1500 ] || {{ journalctl -u minio --no-pager >&2; exit 1; }}; sleep 0.2
done
""")
    log(began, "store up")
    machine.sh("\n".join(page_commands("cluster-key")))
    assert machine.sh("stat -c %a:%U /etc/arrowport/cluster.key").stdout.strip() == "600:root"
    machine.sh("\n".join(page_commands("catalog", [("<catalog password>", CATALOG_PASSWORD)])))
    for name in NODES:
        machine.sh("\n".join(page_commands(
            "node-start", [("a.yaml", f"{name}.yaml"), ("arrowport@a", f"arrowport@{name}")])))
    log(began, "nodes up")
    # The balancer: the page's commands, its frontends bound to the balancer's own address
    # (the nodes listen on 8815 and 8888 of this machine too). The backends are the shipped
    # ones: the page's nodes are the config's 10.0.0.1-3.
    for command in page_commands("balancer"):
        machine.sh(command)
        if command.startswith("sudo cp "):
            machine.sh(f"sed -i 's/^    bind :/    bind {BALANCER}:/' /etc/haproxy/haproxy.cfg")
    # What a reader does before the next block: waits for the balancer to answer (its
    # reload starts new processes, and it marks the nodes up after two health checks).
    machine.sh(f"""i=0
until curl -sf -o /dev/null http://{BALANCER}:8888/readyz; do
  i=$((i + 1)); [ $i -lt 1500 ] || {{ journalctl -u haproxy --no-pager | tail -n 30 >&2; exit 1; }}
  sleep 0.2
done""")
    log(began, "balancer up")
    checked = machine.sh("\n".join(page_commands(
        "check", [("<password>", PASSWORDS["analyst"])]))).stdout
    assert "42" in checked.replace('"', "").split(), checked
    for name in NODES:  # each its own dynamic user and state directory
        pid = machine.sh(f"systemctl show -P MainPID arrowport@{name}").stdout.strip()
        owner = machine.sh(f"stat -c %u /proc/{pid} /proc/{pid}/root/var/lib/arrowport-{name}"
                           "/arrowport.duckdb").stdout.split()
        assert owner[0] == owner[1] and int(owner[0]) >= 61184, owner
    log(began, "checked")
    clients(machine, "write")
    log(began, "written")
    rows = 6 * 60000
    # Every node answers its health checks before the endpoints are spread over all three.
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        seen = clients(machine, "read")
        assert seen["counts"] == {"events": rows, "clicks": rows}, seen
        assert seen["rows"] == rows, seen
        if seen["first"] == sorted(f"{n}.example.internal" for n in NODES):
            break
        assert time.monotonic() < deadline, seen
        time.sleep(1)
    # A node stopped (graceful): reads through the balancer go on, and once the others see
    # it gone no endpoint names it first.
    machine.sh("systemctl stop arrowport@b")
    result = machine.sh("systemctl show arrowport@b -p Result -p ExecMainStatus").stdout
    assert "Result=success" in result and "ExecMainStatus=0" in result, result
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        seen = clients(machine, "read")
        assert seen["counts"] == {"events": rows, "clicks": rows}, seen
        assert seen["rows"] == rows, seen
        if "b.example.internal" not in seen["first"]:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(1)
    log(began, "read with b stopped")
