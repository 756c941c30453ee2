"""Back-pressure: a cluster bigger than its endpoint (issue 13), every row verified.

The endpoint is a bare ASGI app (``_bare_app.py``) in its own process that serves 16
requests at once, each taking 200 ms + 50 µs per row, and refuses a 17th at once with
SageMaker's throttling answer (HTTP 400 ``ThrottlingException``), as an endpoint whose
instances are all busy does. It answers each row's sum, so every prediction can be checked.

The data: 1,280,000 rows of 10 doubles assembled by ``VectorAssembler``, one partition per
concurrent task, cached and materialized before timing. The variants, as the issue lists
them, all in 1,000-row requests (its request shape; the library's default is larger):

- (a) defaults: ``SageMakerModel.from_endpoint(...)``, 8 requests in flight per task, 16
  tasks (``local[16]``): 128 offered to an endpoint that serves 16;
- (b) ``max_in_flight=1``: 16 in flight, the capacity, set by hand;
- (c) ``job_max_in_flight=16``: the job-wide cap, where the engine has it;
- (d) 32 tasks (``local[32]``), defaults: 256 offered;

and (e) the defaults with the library's own body size. (a), (b), (c) and (e) share one
``local[16]`` session and interleave, their order rotating between rounds; (d) runs in a
``local[32]`` session afterwards (one SparkContext per process at a time).

Each run writes ``id`` and ``prediction`` to Parquet; after the clock stops every id must be
there exactly once with a prediction equal to its row sum. A watchdog cancels a run's Spark
jobs after ``--timeout`` seconds, so a run that hangs in retries reports "timed out"
instead of holding the benchmark. The app counts the requests it accepted and refused
(``GET /counts``); the engine's own counters come from ``model.last_metrics``.

Run: ``.venv/bin/python benchmarks/bench_backpressure.py [--rows N] [--rounds N]
[--variants defaults,window1,jobcap,tasks32,body] [--timeout S]``
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bare_app, check_parquet, engine_model, expected_sums, spark_session, table
from _reference_runner import vector_frame

CAPACITY = 16
LATENCY_MS = 200
PER_ROW_US = 50
ISSUE_BODY_ROWS = 1000
ENDPOINT = "capacity-16"
REFERENCE = "window1"  # the job with the window set by hand to the capacity


@dataclass(frozen=True)
class Variant:
    """One way to run the job: ``tasks`` partitions (and ``local[tasks]``), ``options``
    for ``SageMakerModel``."""

    key: str
    label: str
    tasks: int
    options: dict[str, Any]

    @property
    def offered(self) -> int:
        """Requests the job may have in flight at once without any back-pressure."""
        if "job_max_in_flight" in self.options:
            return self.options["job_max_in_flight"]
        return self.tasks * self.options.get("max_in_flight", 8)


def variants() -> list[Variant]:
    from serde.batching import DEFAULT_MAX_BATCH_RECORDS

    issue = {"max_batch_records": ISSUE_BODY_ROWS}
    return [
        Variant("defaults", "(a) defaults", 16, issue),
        Variant("window1", "(b) max_in_flight=1", 16, {**issue, "max_in_flight": 1}),
        Variant("jobcap", "(c) job_max_in_flight=16", 16, {**issue, "job_max_in_flight": 16}),
        Variant("body", f"(e) defaults, {DEFAULT_MAX_BATCH_RECORDS:,}-row bodies", 16, {}),
        Variant("tasks32", "(d) 32 tasks, defaults", 32, issue),
    ]


@dataclass
class Run:
    """One timed run: how it ended, its time, the server's counts, the engine's metrics."""

    outcome: str  # "completed" | "failed: ..." | "timed out ..." | "wrong rows: ..." | ...
    seconds: float = float("nan")
    accepted: int = 0
    refused: int = 0
    peak_serving: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.outcome == "completed"


# ---------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class Server:
    """The capacity-limited bare app, and its request counts."""

    url: str

    def counts(self) -> dict[str, int]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}/counts", timeout=10) as answer:
            return json.loads(answer.read())

    def settle(self, timeout_s: float = 30.0) -> dict[str, int]:
        """The counts once no request is being served (a cancelled run's last requests
        must not count in, or take capacity from, the next run). Each read restarts the
        app's peak, so the peak returned is the highest of every read on the way."""
        deadline = time.monotonic() + timeout_s
        peak = 0
        while True:
            counts = self.counts()
            peak = max(peak, counts["peak_serving"])
            if not counts["serving"] or time.monotonic() > deadline:
                return {**counts, "peak_serving": peak}
            time.sleep(0.1)


@contextlib.contextmanager
def capacity_endpoint() -> Iterator[Server]:
    flags = ["--capacity", str(CAPACITY), "--per-row-us", str(PER_ROW_US)]
    with bare_app("sum", LATENCY_MS, *flags) as url:
        yield Server(url)


# ---------------------------------------------------------------------------- the runs


@contextlib.contextmanager
def watchdog(sc, seconds: float) -> Iterator[threading.Event]:
    """Cancels the Spark jobs started inside the block after ``seconds``; the event says
    whether it fired. Jobs are tagged through a job group of this thread."""
    group = f"bench-backpressure-{time.monotonic_ns()}"
    sc.setJobGroup(group, "bench_backpressure run", interruptOnCancel=True)
    fired = threading.Event()

    def cancel() -> None:
        fired.set()
        sc.cancelJobGroup(group)

    timer = threading.Timer(seconds, cancel)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def first_line(error: BaseException) -> str:
    """The line of ``error`` that says what went wrong: Spark wraps the worker's Python
    traceback, whose last line naming an error is the one raised in the task."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if "Error" in line or "Exception" in line]
    return ((telling or lines or [type(error).__name__])[-1])[:400]


@dataclass
class Bench:
    server: Server
    expected: np.ndarray
    scratch: str
    timeout_s: float

    def measure(self, spark, frame, variant: Variant) -> Run:
        try:
            model = engine_model(self.server.url, ENDPOINT, **variant.options)
        except TypeError as exc:  # an engine without this keyword
            return Run(f"not available ({exc})")
        out = tempfile.mkdtemp(prefix="out-", dir=self.scratch)
        writer = model.transform(frame).select("id", "prediction").write.mode("overwrite")
        before = self.server.settle()
        with watchdog(spark.sparkContext, self.timeout_s) as fired:
            start = time.perf_counter()
            try:
                writer.option("compression", "none").parquet(out)
                error = None
            except Exception as exc:  # a failed job is a result of this benchmark
                error = first_line(exc)
            seconds = time.perf_counter() - start
        counts = self.server.settle()
        run = Run(
            self._outcome(out, error, fired.is_set()),
            seconds,
            counts["accepted"] - before["accepted"],
            counts["refused"] - before["refused"],
            counts["peak_serving"],
            model.last_metrics.as_dict() if model.last_metrics is not None else {},
        )
        shutil.rmtree(out, ignore_errors=True)
        return run

    def _outcome(self, out: str, error: str | None, timed_out: bool) -> str:
        if timed_out:
            return f"timed out after {self.timeout_s:g} s"
        if error is not None:
            return f"failed: {error}"
        wrong = check_parquet(out, self.expected)
        return "completed" if wrong is None else f"wrong rows: {wrong}"

    def warm_up(self, spark, tasks: int) -> None:
        """One untimed pass with ``tasks`` tasks, so each run finds its Python workers
        started (and restarts those a cancelled run killed); refusals become error rows."""
        frame = vector_frame(spark, tasks * 200, tasks)
        model = engine_model(self.server.url, ENDPOINT, max_in_flight=1, on_error="column")
        with contextlib.suppress(Exception):
            model.transform(frame).select("id", "prediction").write.format("noop").mode(
                "overwrite"
            ).save()
        frame.unpersist()


def rotated(items: list[Variant], by: int) -> list[Variant]:
    by %= len(items)
    return items[by:] + items[:by]


def run_session(
    bench: Bench, tasks: int, chosen: list[Variant], rows: int, rounds: int
) -> dict[str, list[Run]]:
    """Every variant with ``tasks`` tasks, ``rounds`` times, interleaved, in one
    ``local[tasks]`` session that is stopped afterwards."""
    spark = spark_session(master=f"local[{tasks}]", **{"spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("FATAL")  # a failed run is a table row, not 16 stack traces
    runs: dict[str, list[Run]] = {variant.key: [] for variant in chosen}
    try:
        started = time.monotonic()
        frame = vector_frame(spark, rows, tasks)
        bench.warm_up(spark, tasks)
        print(f"  (data cached, workers started: {time.monotonic() - started:.0f} s)", flush=True)
        for round_number in range(rounds):
            for variant in rotated(chosen, round_number):
                if runs[variant.key] and runs[variant.key][0].outcome.startswith("not avail"):
                    continue
                run = bench.measure(spark, frame, variant)
                runs[variant.key].append(run)
                report_run(round_number, variant, run, rows)
                if not run.completed and not run.outcome.startswith("not avail"):
                    bench.warm_up(spark, tasks)
    finally:
        spark.stop()
    return runs


def report_run(round_number: int, variant: Variant, run: Run, rows: int) -> None:
    if run.outcome.startswith("not avail"):
        print(f"  {variant.label}: {run.outcome}", flush=True)
        return
    rate = f"{rows / run.seconds:,.0f} rows/s, " if run.completed else ""
    print(
        f"  round {round_number + 1}, {variant.label}: {run.seconds:.1f} s, {rate}"
        f"{run.accepted:,} accepted, {run.refused:,} refused ({run.outcome})",
        flush=True,
    )


# ---------------------------------------------------------------------------- the tables


def median_run(runs: list[Run]) -> Run | None:
    """The run of median time among the completed ones (the faster middle one of an even
    count), else the last run: its counters are printed whole, never mixed across runs."""
    if not runs:
        return None
    done = sorted((run for run in runs if run.completed), key=lambda run: run.seconds)
    return done[(len(done) - 1) // 2] if done else runs[-1]


def outcome_cell(runs: list[Run]) -> str:
    done = sum(run.completed for run in runs)
    if done == len(runs):
        return f"completed {done}/{len(runs)}, all rows verified"
    failed = next(run.outcome for run in runs if not run.completed)
    if len(failed) > 160:  # the whole line is in the progress log above the table
        failed = failed[:160] + "…"
    return f"completed {done}/{len(runs)}; {failed}"


def retries_cell(metrics: dict[str, Any]) -> str:
    retries = metrics.get("retries")
    if not retries:
        return "-" if retries is None else "0"
    return ", ".join(f"{kind} {count:,}" for kind, count in sorted(retries.items()))


def throughput_table(chosen: list[Variant], runs: dict[str, list[Run]], rows: int) -> str:
    reference = median_run(runs.get(REFERENCE, []))
    lines = []
    for variant in chosen:
        run = median_run(runs[variant.key])
        if run is None:
            continue
        goodput = rows / run.seconds if run.completed else None
        ratio = "-"
        if goodput and reference is not None and reference.completed:
            ratio = f"{reference.seconds / run.seconds:.2f}"
        timing = [run.seconds, round(goodput), ratio] if goodput else ["-", "-", "-"]
        lines.append([variant.label, variant.tasks, variant.offered, *timing])
        lines[-1].append(outcome_cell(runs[variant.key]))
    headers = ["variant", "tasks", "offered", "seconds", "goodput rows/s", "x (b)", "result"]
    return table(headers, lines)


METRIC_COLUMNS = [
    ("throttles", "throttles"),
    ("wait_seconds", "wait s"),
    ("mean_in_flight", "mean in flight per task"),
    ("send_rate", "requests/s per task"),
    ("window_lowest", "lowest window"),
]


def pressure_table(chosen: list[Variant], runs: dict[str, list[Run]]) -> str:
    lines = []
    for variant in chosen:
        run = median_run(runs[variant.key])
        if run is None or run.outcome.startswith("not avail"):
            continue
        per_accepted = run.refused / run.accepted if run.accepted else float("nan")
        counts = [run.accepted, run.refused, per_accepted, run.peak_serving]
        engine = [run.metrics.get("requests", "-"), retries_cell(run.metrics)]
        engine += [_cell(run.metrics.get(key, "-")) for key, _ in METRIC_COLUMNS]
        lines.append([variant.label, *counts, *engine])
    headers = ["variant", "accepted", "refused", "refused per accepted", "peak served at once"]
    headers += ["engine requests", "retries by kind", *(name for _, name in METRIC_COLUMNS)]
    return table(headers, lines)


def _cell(value: Any) -> Any:
    return "-" if value is None else value


def print_tables(chosen: list[Variant], runs: dict[str, list[Run]], rows: int) -> None:
    print(
        f"\n### {rows:,} rows x 10 doubles against an endpoint serving {CAPACITY} at once, "
        f"{LATENCY_MS} ms + {PER_ROW_US} µs/row per request; median run\n"
    )
    print(throughput_table(chosen, runs, rows))
    print(
        "\n(a)-(d) send 1,000-row requests, the issue's shape; (e) the library's default. "
        "x (b): goodput over (b)'s ((d) ran in its own local[32] session after the others)."
        "\n\nRequests at the server and the engine's counters (model.last_metrics), same "
        "runs:\n"
    )
    print(pressure_table(chosen, runs))


# ------------------------------------------------------------------------------ main


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def parse_args(argv: list[str]) -> argparse.Namespace:
    keys = [variant.key for variant in variants()]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_280_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(keys), help=f"some of {keys}")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    args = parser.parse_args(argv)
    unknown = set(args.variants.split(",")) - set(keys)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {keys}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    wanted = args.variants.split(",")
    chosen = [variant for variant in variants() if variant.key in wanted]
    runs: dict[str, list[Run]] = {}
    print(f"{load()}", flush=True)
    with (
        capacity_endpoint() as server,
        tempfile.TemporaryDirectory(prefix="bench-backpressure-") as scratch,
    ):
        bench = Bench(server, expected_sums(args.rows), scratch, args.timeout)
        by_tasks = itertools.groupby(sorted(chosen, key=lambda v: v.tasks), lambda v: v.tasks)
        for tasks, group in by_tasks:
            print(f"\nlocal[{tasks}]:", flush=True)
            runs |= run_session(bench, tasks, list(group), args.rows, args.rounds)
    print_tables(chosen, runs, args.rows)
    print(f"\n(total {time.monotonic() - started:.0f} s; {load()})")
    wrong = [run.outcome for done in runs.values() for run in done if "wrong rows" in run.outcome]
    for outcome in wrong:  # a slow or failed job is a finding; a wrong row is a bug
        print(f"WRONG ROWS: {outcome}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
