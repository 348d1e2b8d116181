"""Write ``constraints.txt``: the newest versions of every test dependency that install together.

README's test command installs with ``-c constraints.txt``, so a fresh machine resolves in seconds and
every machine tests the same versions. Run this (on a machine with the package index) to move to newer
releases, then run the suite and commit both::

    python tools/update_constraints.py            # writes constraints.txt
    python tools/update_constraints.py --check    # exit 1 when constraints.txt is not what it would write

Why pins are needed at all: ``s3fs`` pins one ``aiobotocore``, which pins a narrow ``botocore`` range,
while the newest ``boto3`` (wanted by ``moto``) needs a newer ``botocore``; pip's resolver then
backtracks through dozens of releases for half an hour. This script reads the allowed ``botocore``
range from the ``aiobotocore`` that the newest ``s3fs`` takes and resolves with ``boto3``/``botocore``
below its upper end (their version numbers move together), then pins what pip chose. torch is left
out: it is installed first (``pip install torch==2.13.0`` for the CPU build), and a CUDA machine keeps
its own.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "constraints.txt"
LEFT_OUT = {"torch", "vr"}  # installed on their own


def pip(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pip {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def versions(package: str) -> list[Version]:
    """Every release of ``package`` on the index, newest first."""
    text = pip("index", "versions", package)
    listed = re.search(r"Available versions: (.*)", text)
    return sorted((Version(v.strip()) for v in listed.group(1).split(",")), reverse=True) if listed else []


def requirement(package: str, version: Version, dependency: str) -> Requirement | None:
    """What release ``version`` of ``package`` requires of ``dependency`` (from its wheel's METADATA)."""
    with tempfile.TemporaryDirectory() as folder:
        pip("download", "-q", "--no-deps", "-d", folder, f"{package}=={version}")
        wheel = next(Path(folder).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            for line in z.read(meta).decode().splitlines():
                if line.startswith("Requires-Dist:"):
                    req = Requirement(line.split(":", 1)[1].strip())
                    if req.name.lower() == dependency and (req.marker is None or req.marker.evaluate()):
                        return req
    return None


def boto_hints() -> list[str]:
    """``boto3<X``/``botocore<X`` where X is the upper end of the botocore range of the aiobotocore the
    newest s3fs takes."""
    s3fs = versions("s3fs")[0]
    wants = requirement("s3fs", s3fs, "aiobotocore")
    aiobotocore = next(v for v in versions("aiobotocore") if wants is None or wants.specifier.contains(v))
    botocore = requirement("aiobotocore", aiobotocore, "botocore")
    upper = [s.version for s in (botocore.specifier if botocore else []) if s.operator in ("<", "<=")]
    if not upper:
        return []
    bound = min(upper, key=Version)
    print(f"s3fs {s3fs} -> aiobotocore {aiobotocore} -> botocore{botocore.specifier}", file=sys.stderr)
    return [f"boto3<{bound}", f"botocore<{bound}", f"aiobotocore=={aiobotocore}", f"s3fs=={s3fs}"]


def resolve() -> list[str]:
    """``name==version`` of everything ``pip install -e .[test]`` installs beside torch, pinned."""
    import torch

    torch_pin = f"torch=={torch.__version__.split('+')[0]}"
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        pip("install", "--dry-run", "--ignore-installed", "-q", "--report", str(report), torch_pin,
            "-e", f"{ROOT}[test]", *boto_hints())  # fmt: skip
        installed = json.loads(report.read_text())["install"]
    pins = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installed}
    return sorted(f"{name}=={version}" for name, version in pins.items() if name not in LEFT_OUT)


def render(pins: list[str]) -> str:
    today = datetime.date.today().isoformat()
    head = [
        "# The test dependencies' versions, resolved together (python tools/update_constraints.py, "
        f"{today}).",
        '# Used by README\'s test command: pip install -c constraints.txt -e ".[test]"',
        "# torch is not pinned here: install it first (pip install torch==2.13.0 for the CPU build).",
    ]
    return "\n".join([*head, *pins]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Compare with constraints.txt, write nothing.")
    args = parser.parse_args()
    pins = resolve()
    if args.check:
        current = [ln for ln in OUT.read_text().splitlines() if ln and not ln.startswith("#")]
        if current != pins:
            old, new = set(current) - set(pins), set(pins) - set(current)
            print(f"constraints.txt is behind: -{sorted(old)} +{sorted(new)}")
            raise SystemExit(1)
        print(f"constraints.txt is current ({len(pins)} pins)")
        return
    OUT.write_text(render(pins))
    print(f"wrote {OUT} ({len(pins)} pins)")


if __name__ == "__main__":
    main()
