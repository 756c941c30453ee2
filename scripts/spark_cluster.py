"""``python scripts/spark_cluster.py up|down|status``: a Spark standalone cluster (master +
2 workers) on 127.0.0.1 for trying jobs by hand, under ``build/spark-cluster/cli/``.

``up`` starts it detached and prints the master URL (``--connect`` adds a Spark Connect
server whose jobs run on the cluster); ``down`` stops, by pid files under
``build/spark-cluster/``, this cluster and whatever a crashed test run left behind (a live
test session's daemons only with ``--all``); ``status`` shows what runs.
The harness lives in ``tests/spark_cluster.py``; this is its CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from spark_cluster import (  # the harness lives with the tests
    DEFAULT_ROOT,
    ConnectServer,
    StandaloneCluster,
    process_is_spark,
    stop_all,
)

CLI_ROOT = DEFAULT_ROOT / "cli"


def up(args: argparse.Namespace) -> int:
    if (CLI_ROOT / "cluster" / "cluster.json").exists():
        print("a cluster is already up (see `status`); run `down` first", file=sys.stderr)
        return 1
    cluster = StandaloneCluster(
        CLI_ROOT / "cluster",
        workers=args.workers,
        cores_per_worker=args.cores,
        worker_memory=args.memory,
        stop_at_exit=False,
    ).start()
    print(f"master   {cluster.master_url}")
    print(f"web UI   {cluster.webui_url}")
    if args.connect:
        server = ConnectServer(
            CLI_ROOT / "connect",
            master=cluster.master_url,
            cores_max=args.workers * args.cores,
            stop_at_exit=False,
        ).start()
        print(f"connect  {server.url}")
    print(f"logs     {CLI_ROOT}/*/logs   stop with: python scripts/spark_cluster.py down")
    return 0


def owner_alive(directory: Path) -> bool:
    """A test session's daemons live in ``pytest-<pid>``: leave them to a live session."""
    prefix, _, pid = directory.name.partition("-")
    return prefix == "pytest" and pid.isdigit() and Path(f"/proc/{pid}").exists()


def down(args: argparse.Namespace) -> int:
    stopped = []
    for directory in sorted(p for p in DEFAULT_ROOT.glob("*") if p.is_dir()):
        if args.all or not owner_alive(directory):
            stopped += [f"{directory.name}/{name}" for name in stop_all(directory)]
    for state_file in DEFAULT_ROOT.glob("**/*.json"):
        if state_file.name in ("cluster.json", "connect.json"):
            state_file.unlink(missing_ok=True)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def status(args: argparse.Namespace) -> int:
    running = []
    for pid_file in sorted(DEFAULT_ROOT.glob("**/pids/*.pid")):
        pid = int(pid_file.read_text().strip() or 0)
        state = "running" if process_is_spark(pid) else "stale pid file"
        running.append(f"{pid_file.parent.parent.relative_to(DEFAULT_ROOT)}/{pid_file.stem}")
        print(f"{running[-1]:40s} pid {pid:<8d} {state}")
    for state_file in sorted(DEFAULT_ROOT.glob("cli/*/*.json")):
        print(f"{state_file.relative_to(DEFAULT_ROOT)}: {json.loads(state_file.read_text())}")
    if not running:
        print("no Spark daemons under", DEFAULT_ROOT)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark_cluster.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start master + workers (detached)")
    start.add_argument("--workers", type=int, default=2)
    start.add_argument("--cores", type=int, default=1, help="cores per worker")
    start.add_argument("--memory", default="1g", help="memory per worker")
    start.add_argument("--connect", action="store_true", help="also start Spark Connect")
    stop = commands.add_parser("down", help="stop the CLI's daemons and any a dead run left")
    stop.add_argument("--all", action="store_true", help="also those of running test sessions")
    commands.add_parser("status", help="list daemons and their state")
    args = parser.parse_args(argv)
    return {"up": up, "down": down, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
