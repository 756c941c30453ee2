"""A real Spark standalone cluster (one master, N workers) and a Spark Connect server, all
on 127.0.0.1, started from the installed pyspark and always stopped again.

Why a harness instead of ``local[2]``: a standalone cluster is where scoring code meets
what production meets — executors in separate JVMs with their own Python workers, objects
that must pickle, executors that die and get replaced. The pip pyspark has no
``start-master.sh``, so every daemon is launched here with ``bin/spark-class`` (or
``bin/spark-submit`` for Spark Connect) in its own process group, with its pid file, log
and work directory under ``build/spark-cluster/<name>/``. Stopping kills the process group
(a worker's executors included); ``stop_all(root)`` does the same from pid files alone,
which is what ``scripts/spark_cluster.py down`` calls after a crashed run.

Only one SparkContext may exist per Python process, and the test session already owns a
``local[2]`` one, so jobs on the cluster run in a *driver subprocess*: ``start_driver(job,
master=...)`` imports the module defining ``job(spark, params) -> dict`` in a fresh
interpreter, builds the session, runs it and hands the dict back as JSON.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tests.spark_cluster")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "build" / "spark-cluster"
LOOPBACK = "127.0.0.1"
EXECUTOR_MAIN_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"
CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"

JobFunction = Callable[[Any, dict], dict]


class ClusterError(RuntimeError):
    """A daemon or driver did not start, or finished badly; the message quotes its log."""


def spark_home() -> Path:
    """The pip package's directory is a complete SPARK_HOME (jars, bin, sbin)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the daemon binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def daemon_environment(base_dir: Path) -> dict[str, str]:
    """Environment for every JVM we launch: loopback only, our own dirs, the venv's
    Python for executors' Python workers, small daemon heaps, no stray user conf."""
    conf_dir = base_dir / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("SPARK_NO_DAEMONIZE", None)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_CONF_DIR=str(conf_dir),
        SPARK_LOCAL_IP=LOOPBACK,
        SPARK_PID_DIR=str(base_dir / "pids"),
        SPARK_LOG_DIR=str(base_dir / "logs"),
        SPARK_DAEMON_MEMORY="256m",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    return env


# --- processes ------------------------------------------------------------------------


@dataclass
class Daemon:
    """One JVM in its own process group, with a pid file and a log file."""

    name: str
    pid: int
    pid_file: Path
    log_file: Path

    def alive(self) -> bool:
        """Runs and is not a zombie (cmdline is no test here: it is empty during exec)."""
        reap(self.pid)
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] != "Z"

    def stop(self, grace_s: float = 10.0) -> None:
        kill_process_group(self.pid, grace_s)
        self.pid_file.unlink(missing_ok=True)


def launch_daemon(base_dir: Path, name: str, command: Sequence[str], env: dict[str, str]) -> Daemon:
    """Starts ``command`` detached (new session, so one ``killpg`` takes its children too)
    and records its pid: ``spark-class`` execs java, so this pid is the JVM's."""
    pid_dir = base_dir / "pids"
    log_dir = base_dir / "logs"
    pid_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{name}.log"
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=base_dir,
            start_new_session=True,
        )
    pid_file = pid_dir / f"{name}.pid"
    pid_file.write_text(str(proc.pid))
    log.info("started %s (pid %d), log %s", name, proc.pid, log_file)
    return Daemon(name, proc.pid, pid_file, log_file)


def process_is_spark(pid: int) -> bool:
    """True if ``pid`` runs and is one of ours (a Spark JVM or its launcher script): pid
    files can outlive their process, and a recycled pid must never be killed."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spark" in cmdline.lower()


def kill_process_group(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM the group led by ``pid``, SIGKILL whatever is left after ``grace_s``."""
    if not process_is_spark(pid):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    reap(pid)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    reap(pgid)
    return process_group_members(pgid) != []


def process_group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


def reap(pid: int) -> None:
    """Collects the exit status if ``pid`` is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_all(root: Path = DEFAULT_ROOT) -> list[str]:
    """Kills every daemon with a pid file anywhere under ``root``; returns their names.
    Safe to call twice and after a crash: stale pid files are only removed."""
    stopped = []
    for pid_file in sorted(root.glob("**/pids/*.pid")):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().strip())
            if process_is_spark(pid):
                kill_process_group(pid)
                stopped.append(f"{pid_file.parent.parent.name}/{pid_file.stem}")
        pid_file.unlink(missing_ok=True)
    return stopped


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, daemon: Daemon) -> Any:
    """Polls ``predicate`` until true; fails fast, quoting the log, if ``daemon`` dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if not daemon.alive():
            raise ClusterError(
                f"{daemon.name} exited while waiting for {what}. Last lines of "
                f"{daemon.log_file}:\n{log_tail(daemon.log_file)}"
            )
        time.sleep(0.2)
    raise ClusterError(
        f"timed out after {timeout_s:.0f} s waiting for {what}; expected it to come up on "
        f"{LOOPBACK}. Last lines of {daemon.log_file}:\n{log_tail(daemon.log_file)}"
    )


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
        return True
    return False


# --- standalone cluster -----------------------------------------------------------------


@dataclass
class StandaloneCluster:
    """Master + ``workers`` workers (``cores_per_worker`` cores, ``worker_memory`` each).

    >>> with StandaloneCluster(DEFAULT_ROOT / "demo") as cluster:
    ...     result = start_driver(my_job, master=cluster.master_url).wait(120)
    """

    base_dir: Path = DEFAULT_ROOT / "cluster"
    workers: int = 2
    cores_per_worker: int = 1
    worker_memory: str = "1g"
    stop_at_exit: bool = True
    master_port: int = 0
    webui_port: int = 0
    daemons: list[Daemon] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.master_port}"

    @property
    def webui_url(self) -> str:
        return f"http://{LOOPBACK}:{self.webui_port}"

    def worker_dir(self, index: int) -> Path:
        return self.base_dir / "work" / f"worker-{index}"

    def start(self, timeout_s: float = 90.0) -> StandaloneCluster:
        if self.stop_at_exit:
            atexit.register(self.stop)
        stop_all(self.base_dir)  # leftovers of a crashed run in the same directory
        env = daemon_environment(self.base_dir)
        spark_class = str(spark_home() / "bin" / "spark-class")
        self.master_port, self.webui_port = free_port(), free_port()
        master = launch_daemon(
            self.base_dir,
            "master",
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                LOOPBACK,
                "--port",
                str(self.master_port),
                "--webui-port",
                str(self.webui_port),
            ],
            # no REST submission server: it would take the fixed port 6066
            dict(env, SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false"),
        )
        self.daemons.append(master)
        try:
            wait_until(self.master_state, timeout_s, "the Spark master", master)
            for index in range(self.workers):
                work_dir = self.worker_dir(index)
                work_dir.mkdir(parents=True, exist_ok=True)
                worker_env = dict(env, SPARK_WORKER_DIR=str(work_dir))
                self.daemons.append(
                    launch_daemon(
                        self.base_dir,
                        f"worker-{index}",
                        [
                            spark_class,
                            "org.apache.spark.deploy.worker.Worker",
                            "--host",
                            LOOPBACK,
                            "--webui-port",
                            str(free_port()),
                            "--cores",
                            str(self.cores_per_worker),
                            "--memory",
                            self.worker_memory,
                            "--work-dir",
                            str(work_dir),
                            self.master_url,
                        ],
                        worker_env,
                    )
                )
            wait_until(
                lambda: self.alive_workers() >= self.workers,
                timeout_s,
                f"{self.workers} workers to register with {self.master_url}",
                self.daemons[-1],
            )
        except BaseException:
            self.stop()
            raise
        self.write_state()
        return self

    def master_state(self) -> dict | None:
        """The master's own JSON status page, or None while it is not answering."""
        if not self.webui_port:
            return None
        try:
            with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=2) as reply:
                return json.load(reply)
        except (OSError, ValueError):
            return None

    def alive_workers(self) -> int:
        state = self.master_state() or {}
        return int(state.get("aliveworkers", 0))

    def executor_pids(self, worker_index: int | None = None) -> list[int]:
        """Executor JVMs launched by this cluster's workers (or by one of them): found by
        their main class, and told apart by their working directory, which each worker
        creates under its own ``--work-dir``."""
        roots = (
            [self.worker_dir(worker_index)]
            if worker_index is not None
            else [self.worker_dir(i) for i in range(self.workers)]
        )
        return [
            pid for pid, cwd in executor_processes() if any(cwd.is_relative_to(r) for r in roots)
        ]

    def write_state(self) -> None:
        state = {
            "master_url": self.master_url,
            "webui_url": self.webui_url,
            "workers": self.workers,
            "daemons": {d.name: d.pid for d in self.daemons},
        }
        (self.base_dir / "cluster.json").write_text(json.dumps(state, indent=2))

    def executor_pid_in(self, executor_dir: Path) -> int | None:
        """The executor JVM working in ``executor_dir`` (where its Python workers run)."""
        for pid, cwd in executor_processes():
            if cwd == Path(executor_dir) and cwd.is_relative_to(self.base_dir):
                return pid
        return None

    def kill_executor(self, pid: int) -> None:
        """SIGKILL one executor JVM, as a lost machine would: no shutdown hooks run."""
        if pid not in self.executor_pids():
            raise ClusterError(f"pid {pid} is not an executor of this cluster; refusing to kill")
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Workers first (taking their executors), then the master. Idempotent."""
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()
        (self.base_dir / "cluster.json").unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def executor_processes() -> Iterator[tuple[int, Path]]:
    """(pid, working directory) of every executor JVM on this machine."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if EXECUTOR_MAIN_CLASS.encode() in (entry / "cmdline").read_bytes():
                yield int(entry.name), Path(os.readlink(entry / "cwd"))


# --- Spark Connect server ---------------------------------------------------------------


@dataclass
class ConnectServer:
    """``SparkConnectServer`` as its own JVM (via ``spark-submit``), gRPC on 127.0.0.1.

    ``master`` is where the server runs its jobs: ``local[2]`` by default, or a standalone
    cluster's ``spark://`` URL. Clients connect with ``SparkSession.builder.remote(url)``.
    """

    base_dir: Path = DEFAULT_ROOT / "connect"
    master: str = "local[2]"
    cores_max: int = 2
    stop_at_exit: bool = True
    port: int = 0
    daemon: Daemon | None = None

    @property
    def url(self) -> str:
        return f"sc://{LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = 90.0) -> ConnectServer:
        if self.stop_at_exit:
            atexit.register(self.stop)
        stop_all(self.base_dir)
        self.port = free_port()
        # spark-submit sizes a server's JVM with SPARK_DAEMON_MEMORY, not spark.driver.memory
        env = dict(daemon_environment(self.base_dir), SPARK_DAEMON_MEMORY="1g")
        confs = {
            "spark.connect.grpc.binding.address": LOOPBACK,
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.executor.memory": "512m",
            "spark.cores.max": str(self.cores_max),
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "4",
            "spark.pyspark.python": sys.executable,
            "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        }
        command = [
            str(spark_home() / "bin" / "spark-submit"),
            "--class",
            CONNECT_SERVER_CLASS,
            "--name",
            "endpoint-serde Spark Connect server",
            "--master",
            self.master,
        ]
        for key, value in confs.items():
            command += ["--conf", f"{key}={value}"]
        self.daemon = launch_daemon(self.base_dir, "connect-server", command, env)
        try:
            wait_until(
                lambda: port_open(self.port),
                timeout_s,
                f"Spark Connect on port {self.port}",
                self.daemon,
            )
        except BaseException:
            self.stop()
            raise
        (self.base_dir / "connect.json").write_text(
            json.dumps({"url": self.url, "master": self.master, "pid": self.daemon.pid})
        )
        return self

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        (self.base_dir / "connect.json").unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> ConnectServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- driver subprocesses ----------------------------------------------------------------


def cluster_session_confs(master: str) -> dict[str, str]:
    """What a driver on a standalone cluster needs: loopback, modest memory, no UI, and the
    venv's Python on executors (``spark.pyspark.python`` beats whatever PATH says)."""
    return {
        "spark.master": master,
        "spark.executor.memory": "512m",
        "spark.cores.max": "2",
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.pyspark.python": sys.executable,
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        "spark.python.worker.reuse": "true",
    }


def build_session(master: str | None = None, remote: str | None = None) -> Any:
    from pyspark.sql import SparkSession

    if remote is not None:
        return SparkSession.builder.remote(remote).getOrCreate()
    builder = SparkSession.builder.appName("endpoint-serde-cluster-driver")
    for key, value in cluster_session_confs(master or "local[2]").items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def ship_module_by_value(module_name: str) -> None:
    """Functions of a test module travel to executors by value: executors cannot import
    ``tests/`` modules, which are not installed."""
    from pyspark import cloudpickle

    with contextlib.suppress(ValueError):  # already registered
        cloudpickle.register_pickle_by_value(sys.modules[module_name])


def run_job_in_process(job: JobFunction, spark: Any, params: dict) -> dict:
    """Runs ``job`` on an existing session (the test session's ``local[2]``), the same way
    a driver subprocess does, so results compare like for like."""
    ship_module_by_value(job.__module__)
    return job(spark, params)


@dataclass
class DriverProcess:
    """A running driver subprocess; ``wait`` returns the job's dict or raises with its log."""

    proc: subprocess.Popen
    result_file: Path
    log_file: Path
    job_name: str

    def wait(self, timeout_s: float) -> dict:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ClusterError(
                f"driver for {self.job_name} did not finish within {timeout_s:.0f} s; it was "
                f"killed. Last lines of {self.log_file}:\n{log_tail(self.log_file, 40)}"
            ) from None
        if code != 0 or not self.result_file.exists():
            raise ClusterError(
                f"driver for {self.job_name} exited with code {code}, expected 0 and a result "
                f"in {self.result_file}. Last lines of {self.log_file}:\n"
                f"{log_tail(self.log_file, 40)}"
            )
        return json.loads(self.result_file.read_text())

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def start_driver(
    job: JobFunction,
    *,
    master: str | None = None,
    remote: str | None = None,
    params: dict | None = None,
    work_dir: Path,
) -> DriverProcess:
    """Runs ``job(spark, params)`` in a new interpreter whose session is on ``master`` (a
    ``spark://`` URL) or on a Spark Connect ``remote``. ``job`` must be a module-level
    function of an importable file; it returns a JSON-able dict."""
    module_file = Path(sys.modules[job.__module__].__file__).resolve()
    spec = {
        "module_file": str(module_file),
        # a script's jobs live in __main__; the driver imports that file under its own name
        "module_name": module_file.stem if job.__module__ == "__main__" else job.__module__,
        "function": job.__name__,
        "master": master,
        "remote": remote,
        "params": params or {},
        "result_file": str(work_dir / f"{job.__name__}.result.json"),
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    result_file = Path(spec["result_file"])
    result_file.unlink(missing_ok=True)
    log_file = work_dir / f"{job.__name__}.driver.log"
    env = dict(
        os.environ,
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP=LOOPBACK,
    )
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parent), env.get("PYTHONPATH")) if p
    )
    bootstrap = "import sys, spark_cluster; sys.exit(spark_cluster.driver_main(sys.argv[1]))"
    with open(log_file, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", bootstrap, json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    return DriverProcess(proc, result_file, log_file, job.__name__)


def driver_main(spec_json: str) -> int:
    """Entry point of a driver subprocess (see ``start_driver``)."""
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(spec_json)
    module_spec = importlib.util.spec_from_file_location(spec["module_name"], spec["module_file"])
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[spec["module_name"]] = module
    module_spec.loader.exec_module(module)
    ship_module_by_value(spec["module_name"])
    spark = build_session(spec["master"], spec["remote"])
    try:
        started = time.perf_counter()
        result = getattr(module, spec["function"])(spark, spec["params"])
        result.setdefault("driver_seconds", time.perf_counter() - started)
    finally:
        spark.stop()
    Path(spec["result_file"]).write_text(json.dumps(result))
    return 0
