#!/usr/bin/env python3
"""The pip wheel of the portable build (docs/packaging.md#the-pip-wheel):
    toolchain/make_wheel.py BUNDLE VERSION OUTDIR
writes OUTDIR/arrowport_server-VERSION-py3-none-<tag>.whl, whose console script
`arrowport` execs the bundle's loader on the native binary (the process is then named
arrowport, as the portable build's is). Standard library only: it runs on the host.

The platform tag: the bundle carries its own C library and loader and takes nothing from
the host but the kernel (3.2 or newer), so any glibc the host has is old enough. The
oldest tag pip (20.3 and newer, Debian 11's) accepts for that is manylinux_2_17 /
manylinux2014; auditwheel's policies cannot judge a wheel that brings libc, so the install
tests on Debian 11, 12 and 13 prove it instead (tests/e2e/test_install_anywhere.py)."""
import base64
import hashlib
import os
import stat
import sys
import zipfile
from pathlib import Path

NAME = "arrowport_server"
TAG = "py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64"
# A fixed time for every entry: the same bundle gives the same wheel.
EPOCH = (2020, 1, 1, 0, 0, 0)

MAIN = '''"""The `arrowport` console script: execs the native server and CLI of this wheel."""
import os
import sys

_BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundle")


def main():
    # The loader is named arrowport (the kernel names the process after the file it runs);
    # --library-path, unlike LD_LIBRARY_PATH, is not passed on to programs it starts.
    loader = os.path.join(_BUNDLE, "libexec", "arrowport", "arrowport")
    binary = os.path.join(_BUNDLE, "libexec", "arrowport", "arrowport.bin")
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "arrowport"
    os.execv(loader, [loader, "--library-path", os.path.join(_BUNDLE, "lib"),
                      "--argv0", argv0, binary] + sys.argv[1:])


if __name__ == "__main__":
    main()
'''


def record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def main():
    bundle, version, outdir = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    dist_info = f"{NAME}-{version}.dist-info"
    wheel = outdir / f"{NAME}-{version}-{TAG}.whl"
    records = []
    partial = wheel.with_suffix(".whl.partial")

    def add(zf, arcname, data, mode=0o644):
        info = zipfile.ZipInfo(arcname, EPOCH)
        info.external_attr = (stat.S_IFREG | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data, compresslevel=6)
        records.append(record_line(arcname, data))

    with zipfile.ZipFile(partial, "w") as zf:
        add(zf, f"{NAME}/__init__.py",
            f'"""Arrowport\'s native server and CLI (console script: arrowport)."""\n'
            f'__version__ = "{version}"\n'.encode())
        add(zf, f"{NAME}/__main__.py", MAIN.encode())
        for path in sorted(p for p in bundle.rglob("*") if p.is_file() or p.is_symlink()):
            relative = path.relative_to(bundle).as_posix()
            if relative.startswith("bin/"):
                continue  # the shell launcher: the console script does its work
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            add(zf, f"{NAME}/bundle/{relative}", path.read_bytes(), mode)
        license_text = (bundle / "share/doc/arrowport/LICENSE").read_bytes()
        add(zf, f"{dist_info}/licenses/LICENSE", license_text)
        add(zf, f"{dist_info}/licenses/NOTICE",
            (bundle / "share/doc/arrowport/NOTICE").read_bytes())
        add(zf, f"{dist_info}/METADATA", "\n".join([
            # 2.1: what the pip of Debian 11 (20.3) reads without a doubt.
            "Metadata-Version: 2.1",
            f"Name: {NAME.replace('_', '-')}",
            f"Version: {version}",
            "Summary: Arrowport: Arrow Flight, Flight SQL and HTTP server for an embedded "
            "DuckDB database (native build)",
            "License: Apache-2.0",
            "Requires-Python: >=3.7",
            "Classifier: Operating System :: POSIX :: Linux",
            "",
            "The native Arrowport server and CLI, with every library it needs (its C "
            "library included): `arrowport serve`. Third-party licences are in "
            f"{NAME}/bundle/share/doc/arrowport/third-party/.",
            ""]).encode())
        add(zf, f"{dist_info}/WHEEL", "\n".join([
            "Wheel-Version: 1.0",
            "Generator: arrowport toolchain/make_wheel.py",
            "Root-Is-Purelib: false",
            f"Tag: {TAG.split('-')[0]}-{TAG.split('-')[1]}-manylinux_2_17_x86_64",
            f"Tag: {TAG.split('-')[0]}-{TAG.split('-')[1]}-manylinux2014_x86_64",
            ""]).encode())
        add(zf, f"{dist_info}/entry_points.txt",
            f"[console_scripts]\narrowport = {NAME}.__main__:main\n".encode())
        records.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", EPOCH)
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        zf.writestr(info, "\n".join(records) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    partial.replace(wheel)
    print(wheel)


if __name__ == "__main__":
    main()
