"""The Spark Thrift Server and a one-machine Spark standalone cluster, as
background processes of a home.

Each process is started from the installed pyspark (`spark-submit`,
`spark-class`; the pip package has no start scripts) in its own session, with
its log and a pid file under `$RETAILNOVA_HOME/thrift/` or `.../cluster/`. The
pid file names the process by pid, start time and its properties file, so
`stop` ends that process group and nothing else, even after a reboot reused
the pid.

Secrets never reach a command line or a file: the Thrift server's conf holds
`spark.retailnova.pii_pepper=${env:RETAILNOVA_PII_PEPPER}`, which Spark
resolves from the server's environment when it substitutes a query, and the
metastore password is a `${env...}` reference too (extract.spark).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyspark

from extract.settings import Settings
from extract.spark import jvm_environment, spark_conf

SPARK_HOME = Path(pyspark.__file__).resolve().parent
THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
PEPPER_ENV = "RETAILNOVA_PII_PEPPER"
START_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0


class ThriftError(Exception):
    """The server or cluster could not be started, reached or stopped."""


def _start_time(pid: int) -> int | None:
    """The kernel's start time of a live process (clock ticks since boot)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def _reap(pid: int) -> None:
    # A server started by this very process (a test) is our child: collect it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def write_properties(path: Path, conf: dict[str, str]) -> None:
    """A Spark properties file, readable by its owner only. Spark reads it as
    UTF-8 java.util.Properties: only backslashes and line breaks need escaping."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, value in sorted(conf.items()):
        escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        lines.append(f"{key}={escaped}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    path.chmod(0o600)


@dataclass
class Daemon:
    """One background JVM: its pid file, log and properties file in `directory`."""

    name: str
    directory: Path

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def properties_file(self) -> Path:
        return self.directory / f"{self.name}.properties"

    def _record(self) -> dict | None:
        try:
            return json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """The pid of our live process, or None (a stale pid file is removed)."""
        record = self._record()
        if record is None:
            return None
        pid = record.get("pid")
        alive = (
            isinstance(pid, int)
            and _start_time(pid) == record.get("start_time")
            and str(self.properties_file) in _cmdline(pid)
        )
        if not alive:
            if isinstance(pid, int):
                _reap(pid)
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def info(self) -> dict:
        return self._record() or {}

    def start(
        self,
        command: list[str],
        env: dict[str, str],
        ready: Callable[[], bool],
        timeout: float,
        extra: dict | None = None,
    ) -> int:
        """Start `command` in its own session and wait until `ready()`; on
        failure nothing is left running and the error carries the log's tail."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.directory,
                start_new_session=True,
            )
        # Until the child has exec'd, its command line is still ours.
        exec_deadline = time.monotonic() + 10
        while (
            str(self.properties_file) not in _cmdline(process.pid)
            and process.poll() is None
            and time.monotonic() < exec_deadline
        ):
            time.sleep(0.05)
        record = {"pid": process.pid, "start_time": _start_time(process.pid), **(extra or {})}
        self.pid_file.write_text(json.dumps(record))
        deadline = time.monotonic() + timeout
        while True:
            code = process.poll()
            if code is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ThriftError(
                    f"{self.name} exited with code {code} while starting; "
                    f"the end of {self.log_file}:\n{tail(self.log_file)}"
                )
            if ready():
                return process.pid
            if time.monotonic() > deadline:
                # Started by us a moment ago: its group is ours to end.
                _end_group(process.pid, STOP_TIMEOUT)
                self.pid_file.unlink(missing_ok=True)
                raise ThriftError(
                    f"{self.name} did not become ready within {timeout:.0f}s; "
                    f"the end of {self.log_file}:\n{tail(self.log_file)}"
                )
            time.sleep(1.0)

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """End our process group (TERM, then KILL); False if nothing ran."""
        pid = self.pid()
        if pid is None:
            return False
        _end_group(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True


def _end_group(pid: int, timeout: float) -> None:
    """TERM, then KILL, the group a process leads (start_new_session made the
    process its group's leader: pgid == pid)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.3)
        if not _group_alive(pid):
            break
    _reap(pid)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


# --- the Thrift server -------------------------------------------------------


def thrift_daemon(settings: Settings) -> Daemon:
    return Daemon("thrift", settings.home / "thrift")


def thrift_conf(settings: Settings) -> dict[str, str]:
    """extract.spark's conf (Delta, the jar cache, the metastore, the lake),
    plus what only the server needs."""
    conf = spark_conf(settings)
    conf.update(
        {
            "spark.app.name": "retailnova-thrift",
            # Resolved by Spark from the server's environment at substitution
            # time: the pepper is in no file, no command line, no Spark UI.
            "spark.retailnova.pii_pepper": "${env:" + PEPPER_ENV + "}",
        }
    )
    return conf


def thrift_command(settings: Settings, properties: Path) -> list[str]:
    directory = thrift_daemon(settings).directory
    hiveconf = {
        "hive.server2.thrift.bind.host": settings.thrift_host,
        "hive.server2.thrift.port": str(settings.thrift_port),
        "hive.server2.enable.doAs": "false",
        "hive.server2.logging.operation.log.location": str(directory / "operation_logs"),
    }
    return [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--properties-file", str(properties),
        "--class", THRIFT_CLASS,
        "--name", "retailnova-thrift",
        *[arg for k, v in hiveconf.items() for arg in ("--hiveconf", f"{k}={v}")],
    ]  # fmt: skip


def _jvm_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = str(SPARK_HOME)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Our conf is the whole conf: no spark-defaults.conf or spark-env.sh of a
    # SPARK_CONF_DIR set for some other Spark.
    env.pop("SPARK_CONF_DIR", None)
    env.update(jvm_environment(settings))
    env.update(extra)
    return env


@dataclass
class ServerState:
    running: bool
    pid: int | None
    address: str
    accepting: bool
    log: Path

    def describe(self) -> str:
        if self.running:
            answer = "accepts connections" if self.accepting else "does NOT accept connections"
            return f"thrift server running (pid {self.pid}) on {self.address}, {answer}"
        other = " (but another process answers there)" if self.accepting else ""
        return f"thrift server stopped{other}; {self.address}"


def thrift_status(settings: Settings) -> ServerState:
    daemon = thrift_daemon(settings)
    pid = daemon.pid()
    return ServerState(
        running=pid is not None,
        pid=pid,
        address=f"{settings.thrift_host}:{settings.thrift_port}",
        accepting=port_open(settings.thrift_host, settings.thrift_port),
        log=daemon.log_file,
    )


def thrift_start(settings: Settings, timeout: float = START_TIMEOUT) -> ServerState:
    """Start the server unless ours already runs; return once it accepts
    connections."""
    settings.ensure_dirs()
    daemon = thrift_daemon(settings)
    host, port = settings.thrift_host, settings.thrift_port
    if daemon.pid() is not None:
        return thrift_status(settings)
    if port_open(host, port):
        raise ThriftError(
            f"another process already listens on {host}:{port} "
            "(set RETAILNOVA_THRIFT_PORT to use another port)"
        )
    conf = thrift_conf(settings)
    write_properties(daemon.properties_file, conf)
    (daemon.directory / "operation_logs").mkdir(parents=True, exist_ok=True)
    env = _jvm_env(settings, **{PEPPER_ENV: settings.resolve_pepper()})
    daemon.start(
        thrift_command(settings, daemon.properties_file),
        env,
        ready=lambda: port_open(host, port),
        timeout=timeout,
        extra={"address": f"{host}:{port}", "master": conf["spark.master"]},
    )
    return thrift_status(settings)


def thrift_stop(settings: Settings) -> bool:
    return thrift_daemon(settings).stop()


def check_thrift_target(settings: Settings) -> None:
    """Before a run: on the `thrift` target the catalog must be shareable and
    the server must answer; on the session target a server of this home must
    not hold its Derby metastore. Otherwise the run would fail minutes later
    with a long trace instead of one clear line."""
    if settings.target != "thrift":
        if settings.metastore_url is None and thrift_daemon(settings).pid() is not None:
            raise ThriftError(
                "this home's Thrift server holds the embedded Derby metastore: stop it "
                "(`retailnova thrift stop`) or share one on PostgreSQL (RETAILNOVA_METASTORE_URL)"
            )
        return
    if settings.metastore_url is None:
        raise ThriftError(
            "RETAILNOVA_TARGET=thrift needs RETAILNOVA_METASTORE_URL: the extractor and the "
            "Thrift server share one catalog, and the embedded Derby metastore serves one process"
        )
    if not port_open(settings.thrift_host, settings.thrift_port, timeout=3.0):
        raise ThriftError(
            f"no Thrift server answers on {settings.thrift_host}:{settings.thrift_port}: "
            "start one with `retailnova thrift start`"
        )


# --- a standalone cluster on this machine ------------------------------------


def master_address(settings: Settings) -> tuple[str, int]:
    """host and port of RETAILNOVA_SPARK_MASTER when it is spark://host:port."""
    parsed = urlparse(settings.spark_master)
    if parsed.scheme != "spark" or not parsed.hostname or "," in parsed.netloc:
        raise ThriftError(
            "RETAILNOVA_SPARK_MASTER must be spark://HOST:PORT for `retailnova cluster`, "
            f"got {settings.spark_master!r}"
        )
    return parsed.hostname, parsed.port or 7077


def cluster_daemons(settings: Settings) -> tuple[Daemon, Daemon]:
    directory = settings.home / "cluster"
    return Daemon("master", directory), Daemon("worker", directory)


def _daemon_command(main_class: str, properties: Path, *args: str) -> list[str]:
    return [
        str(SPARK_HOME / "bin" / "spark-class"),
        main_class,
        "--properties-file",
        str(properties),
        *args,
    ]


def _master_json(ui_port: int) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as answer:
            return json.load(answer)
    except (OSError, ValueError):
        return None


def _alive_workers(ui_port: int) -> list[dict]:
    state = _master_json(ui_port) or {}
    return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]


@dataclass
class ClusterState:
    master: str
    master_pid: int | None
    worker_pid: int | None
    workers: list[dict]

    def describe(self) -> str:
        if self.master_pid is None:
            return f"cluster stopped ({self.master})"
        cores = sum(w.get("cores", 0) for w in self.workers)
        memory = sum(w.get("memory", 0) for w in self.workers)
        return (
            f"cluster running: master {self.master} (pid {self.master_pid}), "
            f"{len(self.workers)} worker(s) with {cores} cores and {memory} MiB"
            + (f", local worker pid {self.worker_pid}" if self.worker_pid else "")
        )


def cluster_status(settings: Settings) -> ClusterState:
    host, port = master_address(settings)
    master, worker = cluster_daemons(settings)
    master_pid = master.pid()
    ui_port = master.info().get("ui_port")
    return ClusterState(
        master=f"spark://{host}:{port}",
        master_pid=master_pid,
        worker_pid=worker.pid(),
        workers=_alive_workers(ui_port) if master_pid and ui_port else [],
    )


def cluster_start(
    settings: Settings, cores: int = 2, memory: str = "2g", timeout: float = START_TIMEOUT
) -> ClusterState:
    """A master on RETAILNOVA_SPARK_MASTER's port and one worker, both bound
    to that host; returns once the worker has registered."""
    host, port = master_address(settings)
    master, worker = cluster_daemons(settings)
    env = _jvm_env(settings, SPARK_DAEMON_MEMORY="256m", SPARK_LOCAL_IP=host)
    log4j = Path(__file__).with_name("log4j2.properties").as_uri()
    java_options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={log4j}"
    if master.pid() is None:
        if port_open(host, port):
            raise ThriftError(f"another process already listens on {host}:{port}")
        ui_port = free_port()
        write_properties(master.properties_file, {"spark.master.rest.enabled": "false"})
        master.start(
            _daemon_command(
                MASTER_CLASS,
                master.properties_file,
                *("--host", host, "--port", str(port), "--webui-port", str(ui_port)),
            ),
            {**env, "SPARK_DAEMON_JAVA_OPTS": java_options},
            ready=lambda: port_open(host, port) and _master_json(ui_port) is not None,
            timeout=timeout,
            extra={"ui_port": ui_port},
        )
    ui_port = master.info()["ui_port"]
    if worker.pid() is None:
        work_dir = master.directory / "work"
        work_dir.mkdir(parents=True, exist_ok=True)
        write_properties(
            worker.properties_file,
            # Finished applications' folders (jars, logs) are removed after a day.
            {"spark.worker.cleanup.enabled": "true", "spark.worker.cleanup.appDataTtl": "86400"},
        )
        before = {w.get("id") for w in _alive_workers(ui_port)}
        worker.start(
            _daemon_command(
                WORKER_CLASS,
                worker.properties_file,
                *("--host", host, "--cores", str(cores), "--memory", memory),
                *("--webui-port", "0", "--work-dir", str(work_dir)),
                f"spark://{host}:{port}",
            ),
            {**env, "SPARK_DAEMON_JAVA_OPTS": java_options},
            ready=lambda: any(w.get("id") not in before for w in _alive_workers(ui_port)),
            timeout=timeout,
        )
    return cluster_status(settings)


def cluster_stop(settings: Settings) -> bool:
    master, worker = cluster_daemons(settings)
    # The worker first: it ends its executors; the master then has no one to wait for.
    stopped_worker = worker.stop()
    stopped_master = master.stop()
    return stopped_worker or stopped_master
