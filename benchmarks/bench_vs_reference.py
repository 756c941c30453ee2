"""endpoint-serde against sagemaker_pyspark (the JVM reference library), in one run, on the
same servers and the same cached DataFrame, every row of every run verified.

Two endpoints, each a bare ASGI app (``_bare_app.py``) in its own process answering the sum
of each row's features, comma-separated (the form the reference's deserializer reads):
``fast`` answers as fast as it can; ``20 ms`` waits 20 ms + 2 µs per row of the request
and serves at most 8 requests at once (the others queue), like a model on 8 workers.

Per endpoint and round, in an order that rotates between rounds:

- sagemaker_pyspark 1.4.5 in its own venv and JVM (``_reference_runner.py`` in
  ``.venv-reference``): ``SageMakerModel`` with ``DO_NOT_CREATE`` and otherwise its
  defaults, over the DataFrame of ML vectors;
- endpoint-serde at its defaults (``SageMakerModel.from_endpoint``) over the same
  DataFrame of vectors, and over the same values as ``array<double>``;
- the raw ceiling: 16 threads posting pre-built CSV bodies of the same rows over keep-alive
  connections (urllib3, no signing), in 1,000-row bodies (endpoint-serde's default packing)
  and in bodies of up to 5 MiB (the reference's packing).

Every Spark run writes ``id`` and ``prediction`` to Parquet; the ceiling keeps its answers.
Both are checked after the timing: every id exactly once, every prediction equal to the
row sum the server computes (the same doubles, so equality is exact). CPU seconds are read
from ``/proc`` around each run, per process group: the driver (Python), Spark's JVM, the
Python workers, and the server apart.

Run: ``.venv/bin/python benchmarks/bench_vs_reference.py [--rows N] [--rounds N]``
(needs ``.venv-reference``: ``make .venv-reference``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bare_app,
    check_parquet,
    engine_model,
    expected_sums,
    spark_session,
    table,
)
from _proc_cpu import all_processes, cmdline, difference, process_tree_cpu, spark_client_cpu
from _reference_runner import FEATURES, feature_columns, vector_frame

HERE = Path(__file__).resolve().parent
REFERENCE_PYTHON = HERE.parent / ".venv-reference" / "bin" / "python"
REFERENCE = "sagemaker_pyspark 1.4.5, vectors"
ENGINE_VECTORS = "endpoint-serde, vectors"
ENGINE_ARRAYS = "endpoint-serde, array<double>"
CEILING_SMALL = "raw ceiling, 1,000-row bodies"
CEILING_LARGE = "raw ceiling, 5 MiB bodies"
VARIANTS = [REFERENCE, ENGINE_VECTORS, ENGINE_ARRAYS, CEILING_SMALL, CEILING_LARGE]
CPU_GROUPS = ["driver", "jvm", "workers"]
MAX_BODY_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    label: str
    name: str
    url: str
    server_pid: int


@dataclass
class Run:
    """One timed run: seconds, CPU seconds by group (and the server's), and what the check
    of its rows found (``None``: every row present once with the right value)."""

    seconds: float
    cpu: dict[str, float]
    failure: str | None = None


@dataclass
class Results:
    runs: dict[tuple[str, str], list[Run]] = field(default_factory=dict)

    def add(self, endpoint: str, variant: str, run: Run) -> None:
        self.runs.setdefault((endpoint, variant), []).append(run)

    def failures(self) -> list[str]:
        return [
            f"{endpoint} / {variant}: {run.failure}"
            for (endpoint, variant), runs in self.runs.items()
            for run in runs
            if run.failure
        ]


# ---------------------------------------------------------------------------- the data


def array_frame(spark, rows: int, partitions: int = 2):
    """The same values as the vector frame, as ``array<double>``; cached and materialized."""
    columns = ", ".join(f"c{i}" for i in range(FEATURES))
    raw = spark.range(0, rows, 1, partitions).selectExpr("id", *feature_columns())
    df = raw.selectExpr("id", f"array({columns}) as features").cache()
    df.count()
    return df


def csv_lines(rows: int) -> list[bytes]:
    """Row ``id`` as one CSV line of its features (shortest round-trip doubles, as Python
    writes them). A feature is ``k / 7.0`` for one of 97 values of ``k``: those 97 are
    formatted once and taken by index (Arrow's double-to-string cast takes seconds)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tokens = pa.array([repr(k / 7.0) for k in range(97)], pa.binary())
    ids = np.arange(rows, dtype=np.int64)
    text = [tokens.take(pa.array((ids * (i + 1)) % 97)) for i in range(FEATURES)]
    return [line + b"\n" for line in pc.binary_join_element_wise(*text, b",").to_pylist()]


def pack(lines: list[bytes], max_records: int, max_bytes: int) -> list[tuple[int, int, bytes]]:
    """``(start, stop, body)``: the lines in order, in bodies of at most ``max_records``
    rows and ``max_bytes`` bytes."""
    bodies, start, size = [], 0, 0
    for stop, line in enumerate(lines):
        if stop > start and (stop - start == max_records or size + len(line) > max_bytes):
            bodies.append((start, stop, b"".join(lines[start:stop])))
            start, size = stop, 0
        size += len(line)
    bodies.append((start, len(lines), b"".join(lines[start:])))
    return bodies


# ---------------------------------------------------------------------- checking rows


def check_answers(bodies, answers: list[bytes], expected: np.ndarray) -> str | None:
    """The ceiling's answers, body by body, against the rows each body carried."""
    for (start, stop, _), answer in zip(bodies, answers, strict=True):
        values = np.array(answer.strip().split(b","), dtype=np.float64)
        if len(values) != stop - start:
            return f"rows {start}-{stop}: {len(values)} answers for {stop - start} rows"
        if not np.array_equal(values, expected[start:stop]):
            return f"rows {start}-{stop}: answers differ from the row sums"
    return None


# ---------------------------------------------------------------------------- servers


def bare_app_pids() -> set[int]:
    me = os.getpid()
    return {
        stat.pid
        for stat in all_processes().values()
        if stat.ppid == me and any(part.endswith("_bare_app.py") for part in cmdline(stat.pid))
    }


@contextlib.contextmanager
def endpoint(label: str, name: str, latency_ms: float, *flags: str) -> Iterator[Endpoint]:
    """A bare app answering row sums, comma-separated; its pid is kept to read its CPU."""
    before = bare_app_pids()
    with bare_app("sum", latency_ms, "--separator", "comma", *flags) as url:
        (pid,) = bare_app_pids() - before
        yield Endpoint(label, name, url, pid)


# ------------------------------------------------------------------- the two clients


class ReferenceRunner:
    """``_reference_runner.py`` in ``.venv-reference``: one JVM for the whole benchmark,
    fed one command per run (see that file). It starts at once and builds its DataFrame
    while this side builds its own; :meth:`wait_ready` waits for it."""

    def __init__(self, rows: int, warmup_rows: int) -> None:
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by close())
        env = {**os.environ, "PYSPARK_PYTHON": str(REFERENCE_PYTHON), "PYTHONUNBUFFERED": "1"}
        env.pop("PYSPARK_DRIVER_PYTHON", None)
        command = [str(REFERENCE_PYTHON), str(HERE / "_reference_runner.py"), "--rows", str(rows)]
        command += ["--warmup-rows", str(warmup_rows)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True, env=env,
        )  # fmt: skip

    def wait_ready(self) -> None:
        self._read_until("READY")

    def run(self, url: str, name: str, out: str, warmup: bool = False) -> dict:
        command = {"url": url, "endpoint": name, "out": out, "warmup": warmup}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self._read_until("RESULT "))

    def _read_until(self, marker: str) -> str:
        for line in self.process.stdout:
            if line.startswith(marker):
                return line[len(marker) :]
        self.log.seek(0)
        tail = "".join(self.log.readlines()[-30:])
        raise RuntimeError(f"the reference runner stopped:\n{tail}")

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def run_engine(df, target: Endpoint, out: str) -> tuple[float, dict[str, float]]:
    writer = (
        engine_model(target.url, target.name)
        .transform(df)
        .select("id", "prediction")
        .write.mode("overwrite")
        .option("compression", "none")
    )
    before = spark_client_cpu()
    start = time.perf_counter()
    writer.parquet(out)
    seconds = time.perf_counter() - start
    return seconds, difference(spark_client_cpu(), before)


def run_ceiling(target: Endpoint, bodies, threads: int) -> tuple[float, dict, list[bytes]]:
    """Posts every body once from ``threads`` threads over a keep-alive pool; keeps the
    answers for the check after timing."""
    import urllib3

    address = urlsplit(target.url)
    pool = urllib3.HTTPConnectionPool(
        address.hostname, address.port, maxsize=threads, block=True, retries=False
    )
    path = f"/endpoints/{target.name}/invocations"
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}

    def post(item: tuple[int, int, bytes]) -> bytes:
        response = pool.request("POST", path, body=item[2], headers=headers)
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.data[:200]!r}")
        return response.data

    with ThreadPoolExecutor(threads) as executor:
        before = spark_client_cpu()
        start = time.perf_counter()
        answers = list(executor.map(post, bodies))
        seconds = time.perf_counter() - start
        cpu = difference(spark_client_cpu(), before)
    pool.close()
    return seconds, cpu, answers


# ------------------------------------------------------------------------ the rounds


@dataclass
class Bench:
    spark: object
    reference: ReferenceRunner | None
    frames: dict[str, object]  # "vectors" / "arrays" / "warmup-vectors" / "warmup-arrays"
    bodies: dict[str, list]
    expected: np.ndarray
    threads: int
    scratch: str

    def measure(self, variant: str, target: Endpoint) -> Run:
        """One run of ``variant`` against ``target``, its server's CPU included, its rows
        checked after the clock stopped."""
        server_before = process_tree_cpu(target.server_pid)
        try:
            seconds, cpu, check = self._run(variant, target)
        except Exception as exc:  # the engine may be mid-rewrite: report and go on
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            return Run(float("nan"), {}, f"{type(exc).__name__}: {message}")
        cpu["server"] = process_tree_cpu(target.server_pid) - server_before
        return Run(seconds, cpu, check())

    def _run(self, variant: str, target: Endpoint) -> tuple[float, dict, Callable]:
        out = tempfile.mkdtemp(prefix="out-", dir=self.scratch)
        shutil.rmtree(out)
        if variant == REFERENCE:
            if self.reference is None:
                raise RuntimeError("no .venv-reference: run `make .venv-reference`")
            result = self.reference.run(target.url, target.name, out)
            return result["seconds"], result["cpu"], lambda: self._check_parquet(out)
        if variant in (ENGINE_VECTORS, ENGINE_ARRAYS):
            frame = self.frames["vectors" if variant == ENGINE_VECTORS else "arrays"]
            seconds, cpu = run_engine(frame, target, out)
            return seconds, cpu, lambda: self._check_parquet(out)
        bodies = self.bodies[variant]
        seconds, cpu, answers = run_ceiling(target, bodies, self.threads)
        return seconds, cpu, lambda: check_answers(bodies, answers, self.expected)

    def _check_parquet(self, out: str) -> str | None:
        try:
            return check_parquet(out, self.expected)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def warm_up(self, target: Endpoint) -> None:
        """One untimed run of each Spark client on a small frame: class loading, JIT, the
        Python workers' start, so the timed rounds compare steady states."""
        out = tempfile.mkdtemp(prefix="warmup-", dir=self.scratch)
        if self.reference is not None:
            self.reference.run(target.url, target.name, out + "/reference", warmup=True)
        for kind in ("vectors", "arrays"):
            with contextlib.suppress(Exception):  # a failing engine is reported by its runs
                run_engine(self.frames[f"warmup-{kind}"], target, f"{out}/{kind}")
        shutil.rmtree(out, ignore_errors=True)


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def run_rounds(bench: Bench, targets: list[Endpoint], rounds: int) -> Results:
    results = Results()
    for round_number in range(rounds):
        for target in targets:
            for variant in rotated(VARIANTS, round_number):
                run = bench.measure(variant, target)
                results.add(target.label, variant, run)
                status = run.failure or "all rows verified"
                print(
                    f"  round {round_number + 1}, {target.label}, {variant}: "
                    f"{run.seconds:.2f} s ({status})",
                    flush=True,
                )
    return results


# ------------------------------------------------------------------------ the tables


def median_run(runs: list[Run]) -> Run | None:
    good = [run for run in runs if run.failure is None]
    if not good:
        return None
    keys = [*CPU_GROUPS, "server"]
    return Run(
        statistics.median(run.seconds for run in good),
        {key: statistics.median(run.cpu.get(key, 0.0) for run in good) for key in keys}
        | {"client": statistics.median(sum(run.cpu[g] for g in CPU_GROUPS) for run in good)},
    )


def verified(runs: list[Run]) -> str:
    failed = [run.failure for run in runs if run.failure]
    if failed:
        return f"FAILED {len(failed)}/{len(runs)}: {failed[0]}"
    return f"all, {len(runs)}/{len(runs)} runs"


def throughput_table(results: Results, label: str, rows: int) -> str:
    medians = {v: median_run(results.runs.get((label, v), [])) for v in VARIANTS}
    reference = medians[REFERENCE]
    ceilings = [medians[v].seconds for v in (CEILING_SMALL, CEILING_LARGE) if medians[v]]
    ceiling = min(ceilings) if ceilings else None
    lines = []
    for variant in VARIANTS:
        run, all_runs = medians[variant], results.runs.get((label, variant), [])
        if run is None:
            lines.append([variant, "-", "-", "-", "-", verified(all_runs)])
            continue
        versus_reference = f"{reference.seconds / run.seconds:.2f}x" if reference else "-"
        of_ceiling = f"{ceiling / run.seconds:.2f}" if ceiling else "-"
        speed = [run.seconds, round(rows / run.seconds), versus_reference, of_ceiling]
        lines.append([variant, *speed, verified(all_runs)])
    headers = ["variant", "seconds", "rows/s", "x sagemaker_pyspark", "of ceiling", "rows ok"]
    return table(headers, lines)


def cpu_table(results: Results, label: str, rows: int) -> str:
    per_million = 1_000_000 / rows
    lines = []
    for variant in VARIANTS:
        run = median_run(results.runs.get((label, variant), []))
        if run is None:
            continue
        keys = ["driver", "jvm", "workers", "client", "server"]
        lines.append([variant, *(run.cpu[key] * per_million for key in keys)])
    headers = ["variant", "driver (Python)", "Spark JVM", "Python workers", "client total"]
    return table([*headers, "server"], lines)


def print_tables(results: Results, targets: list[Endpoint], rows: int, rounds: int) -> None:
    for target in targets:
        print(f"\n### {target.label} endpoint: {rows:,} rows, median of {rounds} rounds\n")
        print(throughput_table(results, target.label, rows))
        print(f"\nCPU seconds per 1M rows ({target.label} endpoint), by process:\n")
        print(cpu_table(results, target.label, rows))


# ------------------------------------------------------------------------------ main


def load() -> str:
    """The machine's load: on a shared machine, what else ran shows here."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=16, help="the ceiling's threads")
    parser.add_argument("--warmup-rows", type=int, default=50_000)
    parser.add_argument("--endpoints", default="fast,20ms", help="fast, 20ms or both")
    return parser.parse_args(argv)


ENDPOINTS = {
    "fast": ("fast", 0.0),
    "20ms": ("20 ms + 2 µs/row, 8 slots", 20.0, "--per-row-us", "2", "--slots", "8"),
}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        targets = [
            stack.enter_context(endpoint(ENDPOINTS[key][0], key, *ENDPOINTS[key][1:]))
            for key in args.endpoints.split(",")
        ]
        reference = None
        if REFERENCE_PYTHON.exists():
            reference = ReferenceRunner(args.rows, args.warmup_rows)
            stack.callback(reference.close)
        else:
            print(f"{REFERENCE_PYTHON} missing: run `make .venv-reference`", file=sys.stderr)
        spark = spark_session()
        stack.callback(spark.stop)
        frames = {
            "vectors": vector_frame(spark, args.rows, 2),
            "arrays": array_frame(spark, args.rows),
            "warmup-vectors": vector_frame(spark, args.warmup_rows, 2),
            "warmup-arrays": array_frame(spark, args.warmup_rows),
        }
        lines = csv_lines(args.rows)
        bodies = {
            CEILING_SMALL: pack(lines, 1000, MAX_BODY_BYTES),
            CEILING_LARGE: pack(lines, args.rows, MAX_BODY_BYTES),
        }
        del lines
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-vs-reference-"))
        if reference is not None:
            reference.wait_ready()
        bench = Bench(
            spark, reference, frames, bodies, expected_sums(args.rows), args.threads, scratch
        )
        print(f"setup: {time.monotonic() - started:.0f} s; {load()}", flush=True)
        for target in targets:
            bench.warm_up(target)
        results = run_rounds(bench, targets, args.rounds)
    print_tables(results, targets, args.rows, args.rounds)
    print(f"\n(total {time.monotonic() - started:.0f} s; {load()})")
    for failure in results.failures():
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if results.failures() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
