"""A real Spark standalone cluster on 127.0.0.1, started from the installed pyspark.

Processes start in their own sessions so the teardown can kill each one whole (a worker and the
executors it launched), even when a test fails. Readiness is read from each process's log
stream: the helper blocks on the stream until the line that says the process is ready.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pyspark

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"
READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spark_env(**extra: str) -> dict[str, str]:
    """The environment of every cluster process: loopback only, this interpreter for Python."""
    return {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        **extra,
    }


class Process:
    """A Spark daemon whose log is copied to a file while a thread watches for a line."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._seen: dict[str, threading.Event] = {}
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("w") as copy:
            for line in self.process.stdout:
                copy.write(line)
                copy.flush()
                with self._lock:
                    self._lines.append(line)
                    for marker, event in self._seen.items():
                        if marker in line:
                            event.set()
        with self._lock:
            for event in self._seen.values():
                event.set()  # the process ended: waiting any longer cannot help

    def wait_for(self, marker: str, timeout: float = READY_TIMEOUT_S) -> None:
        with self._lock:
            event = self._seen.setdefault(marker, threading.Event())
            if any(marker in line for line in self._lines):
                event.set()
        if not event.wait(timeout) or not any(marker in line for line in self._lines):
            raise RuntimeError(f"{self.name} never logged {marker!r}; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Cluster:
    """A master and workers; `stop` tears everything down."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.processes: list[Process] = []
        self.extra_pids: list[int] = []
        master = Process(
            "master",
            [
                str(SPARK_CLASS),
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--webui-port",
                "0",
            ],
            root / "master.log",
            spark_env(SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false"),
        )
        self.processes.append(master)
        master.wait_for("I have been elected leader")

    def worker_command(self, index: int, cores: int) -> list[str]:
        work = self.root / f"work-{index}"
        work.mkdir(exist_ok=True)
        return [
            str(SPARK_CLASS),
            "org.apache.spark.deploy.worker.Worker",
            self.url,
            "--host",
            "127.0.0.1",
            "--cores",
            str(cores),
            "--memory",
            "3g",
            "--webui-port",
            "0",
            "--work-dir",
            str(work),
        ]

    def add_worker(self, index: int, *, cores: int = 1, options: str = "") -> Process:
        worker = Process(
            f"worker-{index}",
            self.worker_command(index, cores),
            self.root / f"worker-{index}.log",
            spark_env(SPARK_WORKER_OPTS=options),
        )
        self.processes.append(worker)
        worker.wait_for("Successfully registered with master")
        return worker

    def stop(self) -> None:
        for pid in self.extra_pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        for process in reversed(self.processes):
            process.stop()


def run_driver(
    script: str, *args: str, root: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> str:
    """Run a driver program against the cluster in its own process; returns its stdout."""
    return driver_process(script, *args, root=root, timeout=timeout, env=env).stdout


def driver_process(
    script: str, *args: str, root: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a driver program in its own process (``env``: default `spark_env`); it must succeed."""
    path = root / "driver.py"
    path.write_text(script)
    done = subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=spark_env() if env is None else env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise AssertionError(f"driver failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done
