"""``make bench``: runs every benchmark script in turn and prints their tables.

Each script runs in its own process (Spark sessions and servers do not leak between them).
Pass names to run a subset: ``python benchmarks/run_all.py engine local_host``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "serde",
    "serde_protobuf",
    "serde_json",
    "serde_custom",
    "local_host",
    "host_inference",
    "engine",
    "vs_reference",
    "backpressure",
    "batch_transform",
    "cluster",
]


def main(argv: list[str]) -> int:
    wanted = argv or ORDER
    failures = []
    for name in wanted:
        script = HERE / f"bench_{name}.py"
        if not script.exists():
            print(f"\n## {name}: no benchmark script {script.name}", flush=True)
            failures.append(name)
            continue
        print(f"\n## {name} ({script.name})", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(f"\n({script.name}: {time.monotonic() - started:.0f} s, exit {result.returncode})")
        if result.returncode:
            failures.append(name)
    if failures:
        print(f"\nbenchmarks that failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
