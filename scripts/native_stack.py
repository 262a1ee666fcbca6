"""The production stack of docker-compose.yml, started natively (no Docker).

Reads docker-compose.yml itself and runs what it describes, on this host:

- `postgres` and `redis` from Debian's packages (`postgresql`, `redis-server`), with the
  service's own settings: the superuser and password of its environment, the init scripts
  it mounts into /docker-entrypoint-initdb.d/, the arguments of its command;
- every service built from the project's Dockerfile as the image's entrypoint would:
  `bash ...`/`python ...` as they are, anything else as `airflow <command>`, with the
  service's environment, in dependency order (`depends_on`: started, healthy, completed),
  each replica of a scaled service (`--scale airflow-worker=2`) as its own process group;
- each service's own `healthcheck` command, until it passes, before its dependents start.

Only what a container provides differs, and only in these ways (the host adaptation, also
asserted by tests/stack/test_compose_drift.py):

- service host names and ports (`postgres:5432`, `redis:6379`, `airflow-apiserver:8080`)
  become 127.0.0.1 and a free port; `localhost:<port>` inside a service is that replica's
  own free port, given to it through the setting that moves it (`AIRFLOW__API__PORT`, ...);
- container paths become host folders: the project (`/opt/airflow/project`) is this
  checkout, bind mounts are their host paths, named volumes folders of the work directory,
  and `/opt/airflow` (AIRFLOW_HOME) a home per replica;
- each replica gets `HOSTNAME` (its replica name, as a container has its own), and a Celery
  worker that name as its Celery node name; services bind 127.0.0.1 only; executables come
  from this virtualenv (`.venv/bin` first on PATH);
- the UI's public address (`AIRFLOW_API_PORT`, `AIRFLOW_BASE_URL` of .env) is the API
  server's own; PostgreSQL's data lives in a throwaway folder, without fsync; Redis's
  health check is given its port (`redis-cli -p`);
- everything runs as the current user (compose: AIRFLOW_UID), and read-only mounts are
  not enforced.

Usage (starts the stack, prints the UI address, stops everything on Ctrl-C):
    .venv/bin/python scripts/native_stack.py --workdir build/native-stack \
        --landing include/sample_exports --workers 2
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
VENV_BIN = Path(sys.executable).parent

IMAGE_HOME = "/opt/airflow"
"""AIRFLOW_HOME in the official image."""
PROJECT_DIR = "/opt/airflow/project"
"""Where the Dockerfile copies this project (its WORKDIR while installing)."""
INITDB_DIR = "/docker-entrypoint-initdb.d"
REDIS_DATA = "/data"
"""The redis image's working directory (its append-only file)."""

PORT_SETTINGS: dict[int, str] = {
    8080: "AIRFLOW__API__PORT",
    8974: "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
    8793: "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
    8794: "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
}
"""The ports an Airflow container listens on, and the setting that moves each natively."""
INFRASTRUCTURE_PORTS = {"postgres": 5432, "redis": 6379}
PUBLIC_ADDRESS = ("airflow-apiserver", 8080, "AIRFLOW_API_PORT", "AIRFLOW_BASE_URL")
"""The service and port compose publishes, and the .env variables naming them on the host:
natively they are the API server's own address."""
PASSED_THROUGH = ("LANG", "LC_ALL", "TZ", "TMPDIR")
ADDED_SETTINGS = frozenset(
    {
        "AIRFLOW_HOME",
        "AIRFLOW__API__HOST",
        "HOME",
        "HOSTNAME",
        "PATH",
        *PASSED_THROUGH,
        *PORT_SETTINGS.values(),
    }
)
"""Environment variables the native side adds to a service's own (nothing else is added)."""

START_TIMEOUT = 180.0  # s, for one service to become healthy
STOP_TIMEOUT = 30.0  # s, for every process to end after SIGTERM


class StackError(RuntimeError):
    """The stack could not be described, started or stopped as docker-compose.yml says."""


# --- docker-compose.yml ------------------------------------------------------------------

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")
_EXPRESSION = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>.*))?", re.DOTALL)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: `$VAR`, `${VAR}`, `${VAR:-default}`,
    `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, and `$$` for a literal `$`."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        expression = _EXPRESSION.fullmatch(match["braced"])
        if expression is None:
            raise StackError(f"unsupported substitution {match[0]!r} in docker-compose.yml")
        name, op, arg = expression["name"], expression["op"], expression["arg"] or ""
        value = env.get(name)
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise StackError(f"{name}: {arg or 'required'}")
        return value or ""

    return _VARIABLE.sub(substitute, text)


def referenced_variables(text: str) -> dict[str, str | None]:
    """The variables a compose file substitutes: name -> operator (`:?` when required)."""
    found: dict[str, str | None] = {}
    for match in _VARIABLE.finditer(text):
        if match["named"]:
            found.setdefault(match["named"], None)
        elif match["braced"] is not None:
            expression = _EXPRESSION.fullmatch(match["braced"])
            if expression is not None:
                op = expression["op"]
                if found.get(expression["name"]) != ":?":
                    found[expression["name"]] = op
    return found


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    return node


@dataclass(frozen=True)
class Volume:
    source: str
    target: str
    read_only: bool

    @property
    def named(self) -> bool:
        return not self.source.startswith((".", "/", "~"))


@dataclass(frozen=True)
class Service:
    """One service of docker-compose.yml, its variables substituted."""

    name: str
    image: str
    built: bool
    argv: list[str]
    """What the container runs: its entrypoint and command, after the image's entrypoint."""
    environment: dict[str, str]
    healthcheck: list[str] | None
    """The health check as argv (`CMD-SHELL` as `sh -c ...`), None without one."""
    depends_on: dict[str, str]
    volumes: list[Volume]
    profiles: list[str]
    ports: list[str]

    @property
    def airflow(self) -> bool:
        """Built from the project's Dockerfile (Airflow's image)."""
        return self.built


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):
        pairs = (str(item).partition("=") for item in value)
        return {k: v for k, _, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _healthcheck(value: Any) -> list[str] | None:
    if not value or value.get("disable"):
        return None
    test = value["test"]
    if isinstance(test, str):
        return ["sh", "-c", test]
    kind, *rest = (str(t) for t in test)
    if kind == "CMD":
        return rest
    if kind == "CMD-SHELL":
        return ["sh", "-c", " ".join(rest)]
    if kind == "NONE":
        return None
    raise StackError(f"unsupported healthcheck {test!r}")


def image_argv(entrypoint: list[str], command: list[str]) -> list[str]:
    """What the official Airflow image runs: an explicit entrypoint with its command, else
    `bash`/`python` commands as they are and any other command as `airflow <command>`."""
    if entrypoint:
        return [*entrypoint, *command]
    if command and command[0] in ("bash", "python"):
        return command
    if command and command[0] == "airflow":
        return command
    return ["airflow", *command]


def load_compose(env: Mapping[str, str], path: Path = COMPOSE_FILE) -> dict[str, Service]:
    """The services of a compose file, with `env` as its .env."""
    document = yaml.safe_load(path.read_text())
    services: dict[str, Service] = {}
    for name, raw in _interpolated(document["services"], env).items():
        built = "build" in raw
        entrypoint, command = _words(raw.get("entrypoint")), _words(raw.get("command"))
        argv = image_argv(entrypoint, command) if built else [*entrypoint, *command]
        volumes = []
        for spec in raw.get("volumes", []):
            source, target, *mode = str(spec).split(":")
            volumes.append(Volume(source, target, "ro" in mode))
        depends = raw.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        services[name] = Service(
            name=name,
            image=str(raw.get("image", "")),
            built=built,
            argv=argv,
            environment=_environment(raw.get("environment")),
            healthcheck=_healthcheck(raw.get("healthcheck")),
            depends_on={d: str(c.get("condition", "service_started")) for d, c in depends.items()},
            volumes=volumes,
            profiles=[str(p) for p in raw.get("profiles", [])],
            ports=[str(p) for p in raw.get("ports", [])],
        )
    return services


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise StackError(f"{path}: not KEY=VALUE: {key!r}")
        values[key.strip()] = value.strip()
    return values


def throwaway_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """.env.example with a fresh random value for every secret it leaves blank (a Fernet
    key for the Fernet key), the current user as AIRFLOW_UID, then `overrides`."""
    env = read_env_file(ENV_EXAMPLE)
    for key, value in env.items():
        if value:
            continue
        if "FERNET" in key:
            env[key] = base64.urlsafe_b64encode(os.urandom(32)).decode()
        elif key.endswith(("PASSWORD", "SECRET", "SECRET_KEY")):
            env[key] = secrets.token_hex(24)
    env["AIRFLOW_UID"] = str(os.getuid())
    env.update(overrides or {})
    return env


def start_order(services: Mapping[str, Service]) -> list[str]:
    """Services in an order that starts every dependency first (compose's order)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise StackError(f"docker-compose.yml: dependency cycle through {name}")
        visiting.add(name)
        for dependency in sorted(services[name].depends_on):
            visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in sorted(services):
        visit(name)
    return order


# --- the native side ---------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise StackError(
            "PostgreSQL server binaries not found: install Debian's `postgresql` package "
            "(.ci/run and `make unit` do)"
        )
    return found[-1]


def redis_server_bin() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise StackError(
            "redis-server not found: install Debian's `redis-server` package "
            "(.ci/run and `make unit` do)"
        )
    return found


def native_versions() -> dict[str, str]:
    """Versions of the PostgreSQL and Redis servers the native stack runs."""
    argv = [postgres_bin("postgres"), "--version"]
    pg = subprocess.run(argv, capture_output=True, text=True, check=False)
    argv = [redis_server_bin(), "--version"]
    redis = subprocess.run(argv, capture_output=True, text=True, check=False)
    pg_version = re.search(r"(\d+)(?:\.(\d+))?", pg.stdout)
    redis_version = re.search(r"v=(\d+\.\d+\.\d+)", redis.stdout)
    if pg_version is None or redis_version is None:
        raise StackError("cannot tell the PostgreSQL or Redis version")
    return {"postgres": pg_version[0], "redis": redis_version[1]}


@dataclass
class Replica:
    """One process of a service on this host (a container, natively)."""

    name: str
    service: Service
    argv: list[str]
    env: dict[str, str]
    healthcheck: list[str] | None
    ports: dict[int, int]
    log: Path
    process: subprocess.Popen[bytes] | None = None


class NativeStack:
    """docker-compose.yml's stack on this host; a context manager that always stops every
    process it started (and raises if one survives)."""

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        logs: Path,
        scale: Mapping[str, int] | None = None,
        compose_file: Path = COMPOSE_FILE,
        say: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir.resolve()
        self.logs = logs.resolve()
        self.compose_dir = compose_file.resolve().parent
        self.say = say
        described = load_compose(env, compose_file)
        for name, service in described.items():
            if not service.airflow and name not in INFRASTRUCTURE_PORTS:
                raise StackError(f"{name} ({service.image}): no native way to run this service")
        airflow = sorted(n for n, s in described.items() if s.airflow and not s.profiles)
        self.scale = {name: 1 for name in airflow} | dict(scale or {})
        count = len(INFRASTRUCTURE_PORTS) + len(PORT_SETTINGS) * sum(self.scale.values())
        ports = iter(free_ports(count))
        self.host_ports = {name: next(ports) for name in INFRASTRUCTURE_PORTS}
        self.replica_ports = {
            name: [{p: next(ports) for p in PORT_SETTINGS} for _ in range(self.scale[name])]
            for name in airflow
        }
        # The UI's public address (compose publishes the API server's port on the host).
        public, port, port_variable, url_variable = PUBLIC_ADDRESS
        api = self.replica_ports[public][0][port]
        self.env = dict(env) | {port_variable: str(api), url_variable: f"http://127.0.0.1:{api}"}
        self.services = {
            name: s for name, s in load_compose(self.env, compose_file).items() if not s.profiles
        }
        self.replicas = {
            name: [
                self._replica(self.services[name], n, ports)
                for n, ports in enumerate(self.replica_ports[name], start=1)
            ]
            for name in start_order(self.services)
            if self.services[name].airflow
        }
        self._started: list[Replica] = []
        self._pg_root: Path | None = None
        self._pg_data: Path | None = None
        self._pg_pid: int | None = None
        self.survivors: list[str] = []

    # -- host adaptation --

    def published_port(self, service: str, port: int) -> int:
        """The host port of a service's container port (its first replica)."""
        if service in INFRASTRUCTURE_PORTS and port == INFRASTRUCTURE_PORTS[service]:
            return self.host_ports[service]
        replicas = self.replica_ports.get(service)
        if not replicas or port not in replicas[0]:
            raise StackError(f"{service}:{port}: not a port the native stack knows")
        return replicas[0][port]

    def volume_dir(self, volume: Volume) -> Path:
        if volume.named:
            return self.workdir / "volumes" / volume.source
        return (self.compose_dir / volume.source).resolve()

    def adapt(self, text: str, paths: Mapping[str, str], own_ports: Mapping[int, int]) -> str:
        """A container's string as the same thing on this host."""
        hosts = "|".join(re.escape(s) for s in sorted(self.services, key=len, reverse=True))

        def host(match: re.Match[str]) -> str:
            return f"127.0.0.1:{self.published_port(match[1], int(match[2]))}"

        def local(match: re.Match[str]) -> str:
            port = int(match[1])
            return f"127.0.0.1:{own_ports[port]}" if port in own_ports else match[0]

        text = re.sub(rf"(?<![\w.-])({hosts}):(\d+)\b", host, text)
        text = re.sub(r"(?<![\w.-])localhost:(\d+)\b", local, text)
        for container, native in sorted(paths.items(), key=lambda kv: -len(kv[0])):
            text = re.sub(rf"{re.escape(container)}(?![\w.-])", _literal(native), text)
        return text

    def _replica(self, service: Service, n: int, ports: dict[int, int]) -> Replica:
        name = f"{service.name}-{n}"
        home = self.workdir / "home" / name
        paths = {IMAGE_HOME: str(home), PROJECT_DIR: str(ROOT)}
        for volume in service.volumes:
            paths[volume.target] = str(self.volume_dir(volume))
        own = {port: ports[port] for port in PORT_SETTINGS}

        def adapt(value: str) -> str:
            return self.adapt(value, paths, own)

        env = {key: adapt(value) for key, value in service.environment.items()}
        env.update({k: os.environ[k] for k in PASSED_THROUGH if k in os.environ})
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "HOME": str(home),
                "HOSTNAME": name,
                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                **{setting: str(ports[port]) for port, setting in PORT_SETTINGS.items()},
            }
        )
        argv = [adapt(arg) for arg in service.argv]
        if argv[:3] == ["airflow", "celery", "worker"]:
            argv += ["--celery-hostname", name]
        check = [adapt(arg) for arg in service.healthcheck] if service.healthcheck else None
        return Replica(name, service, argv, env, check, ports, self.logs / f"{name}.log")

    # -- lifecycle --

    def __enter__(self) -> NativeStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self.survivors and exc is None:
            raise StackError(f"processes survived the stop: {self.survivors}")

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        for volumes in (s.volumes for s in self.services.values()):
            for volume in volumes:
                if volume.named:
                    self.volume_dir(volume).mkdir(parents=True, exist_ok=True)
        done: set[str] = set()
        for name in start_order(self.services):
            service = self.services[name]
            for dependency, condition in service.depends_on.items():
                if condition == "service_healthy" and dependency not in done:
                    self._wait_healthy(dependency)
                    done.add(dependency)
            if name == "postgres":
                self._start_postgres(service)
            elif name == "redis":
                self._start_redis(service)
            elif self._one_shot(name):
                for replica in self.replicas[name]:
                    self._run_to_completion(replica)
            else:
                for replica in self.replicas[name]:
                    self._spawn(replica)
        for name in start_order(self.services):
            if name not in done and not self._one_shot(name):
                self._wait_healthy(name)

    def _one_shot(self, name: str) -> bool:
        return any(
            s.depends_on.get(name) == "service_completed_successfully"
            for s in self.services.values()
        )

    def _spawn(self, replica: Replica) -> None:
        if "HOME" in replica.env:
            Path(replica.env["HOME"]).mkdir(parents=True, exist_ok=True)
        with open(replica.log, "ab") as log:
            replica.process = subprocess.Popen(
                replica.argv,
                env=replica.env,
                cwd=replica.env.get("HOME", str(self.workdir)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._started.append(replica)
        self.say(f"native stack: {replica.name} started (pid {replica.process.pid})")

    def _run_to_completion(self, replica: Replica) -> None:
        self._spawn(replica)
        assert replica.process is not None
        try:
            code = replica.process.wait(timeout=START_TIMEOUT * 2)
        except subprocess.TimeoutExpired:
            raise StackError(f"{replica.name} did not finish: {self.tail(replica)}") from None
        if code != 0:
            raise StackError(f"{replica.name} exited {code}: {self.tail(replica)}")
        self.say(f"native stack: {replica.name} completed")

    def tail(self, replica: Replica, chars: int = 3000) -> str:
        return replica.log.read_text(errors="replace")[-chars:] if replica.log.exists() else ""

    def _healthy(self, name: str) -> bool:
        if name == "postgres":
            return self._run_check(self._postgres_check())
        if name == "redis":
            return self._run_check(self._redis_check())
        replicas = self.replicas[name]
        for replica in replicas:
            if replica.process is not None and replica.process.poll() is not None:
                raise StackError(
                    f"{replica.name} exited {replica.process.returncode}: {self.tail(replica)}"
                )
        return all(
            replica.healthcheck is None or self._run_check((replica.healthcheck, replica.env))
            for replica in replicas
        )

    @staticmethod
    def _run_check(check: tuple[list[str], dict[str, str]]) -> bool:
        argv, env = check
        try:
            done = subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def _wait_healthy(self, name: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self._healthy(name):
            if time.monotonic() > deadline:
                logs = [self.tail(r) for r in self.replicas.get(name, [])]
                raise StackError(f"{name} not healthy after {START_TIMEOUT:.0f} s: {logs}")
            time.sleep(1)
        self.say(f"native stack: {name} healthy")

    # -- infrastructure from Debian's packages --

    def _start_postgres(self, service: Service) -> None:
        env = service.environment
        user, password, database = (
            env["POSTGRES_USER"],
            env["POSTGRES_PASSWORD"],
            env["POSTGRES_DB"],
        )
        root = Path(tempfile.mkdtemp(prefix="governance-stack-pg-"))
        self._pg_root, self._pg_data = root, root / "data"
        as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(root, "postgres")
            root.chmod(0o755)
            as_user = ["runuser", "-u", "postgres", "--"]
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if as_user:
            shutil.chown(pwfile, "postgres")
        pwfile.chmod(0o600)
        port = self.host_ports["postgres"]

        def run(*argv: str) -> None:
            done = subprocess.run([*as_user, *argv], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise StackError(f"{argv[0]} failed: {done.stderr[-2000:]}")

        # As the image does: local connections trusted, TCP with scram-sha-256.
        run(
            postgres_bin("initdb"), "-D", str(self._pg_data), "-U", user, "-E", "UTF8",
            f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
        )  # fmt: skip
        pwfile.unlink()
        # A throwaway server: no fsync (durability only; nothing it does changes).
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(postgres_bin("pg_ctl"), "-D", str(self._pg_data), "-o", options, "-w",
            "-l", str(root / "postgres.log"), "start")  # fmt: skip
        self._pg_pid = int((self._pg_data / "postmaster.pid").read_text().split()[0])
        self.say(f"native stack: postgres started (pid {self._pg_pid}, port {port})")
        if database != "postgres":
            run("createdb", "-h", str(root), "-p", str(port), "-U", user, database)
        # The init scripts the service mounts into /docker-entrypoint-initdb.d/, in order.
        scripts = sorted(
            (v for v in service.volumes if v.target.startswith(INITDB_DIR + "/")),
            key=lambda v: v.target,
        )
        script_env = {
            **self._base_env(),
            **env,
            "PGHOST": str(root),
            "PGPORT": str(port),
        }
        for volume in scripts:
            done = subprocess.run(
                ["bash", str(self.volume_dir(volume))],
                env=script_env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise StackError(f"{volume.source} failed: {done.stderr[-2000:]}")
            self.say(f"native stack: postgres ran {volume.source}")

    def _postgres_check(self) -> tuple[list[str], dict[str, str]]:
        service = self.services["postgres"]
        assert service.healthcheck is not None
        env = {
            **self._base_env(),
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.host_ports["postgres"]),
        }
        return service.healthcheck, env

    def _start_redis(self, service: Service) -> None:
        data = next(v for v in service.volumes if v.target == REDIS_DATA)
        argv = [redis_server_bin() if service.argv[0] == "redis-server" else service.argv[0]]
        argv += service.argv[1:]
        argv += ["--port", str(self.host_ports["redis"]), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.volume_dir(data)), "--daemonize", "no"]
        replica = Replica(
            "redis", service, argv, self._base_env(), None, {}, self.logs / "redis.log"
        )
        self._spawn(replica)

    def _redis_check(self) -> tuple[list[str], dict[str, str]]:
        service = self.services["redis"]
        assert service.healthcheck is not None
        argv = list(service.healthcheck)
        if argv[0] == "redis-cli":
            argv[1:1] = ["-p", str(self.host_ports["redis"])]
        return argv, {**self._base_env(), **service.environment}

    def _base_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        return env

    # -- stopping --

    def stop(self) -> None:
        """SIGTERM every process group started (workers first), SIGKILL what lingers after
        STOP_TIMEOUT, stop PostgreSQL; `survivors` lists any process still alive."""
        family: list[psutil.Process] = []
        for replica in reversed(self._started):
            if replica.process is None:
                continue
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(replica.process.pid)
                family += [parent, *parent.children(recursive=True)]
        for replica in reversed(self._started):
            if replica.process is not None and replica.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(replica.process.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(family, timeout=STOP_TIMEOUT)
        for replica in self._started:
            if replica.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(replica.process.pid, signal.SIGKILL)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
        for replica in self._started:
            if replica.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    replica.process.wait(timeout=10)
        self.survivors = [f"{p.pid} {_name(p)}" for p in family if _alive(p)]
        self._started.clear()
        self._stop_postgres()

    def _stop_postgres(self) -> None:
        root, data, pid = self._pg_root, self._pg_data, self._pg_pid
        if root is None or data is None:
            return
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if pid is not None:
            subprocess.run(
                [*as_user, postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                check=False,
            )
            with contextlib.suppress(psutil.NoSuchProcess):
                postmaster = psutil.Process(pid)
                with contextlib.suppress(psutil.TimeoutExpired):
                    postmaster.wait(timeout=STOP_TIMEOUT)
                if _alive(postmaster):
                    postmaster.kill()
                    self.survivors.append(f"{pid} postgres")
        with contextlib.suppress(OSError):
            shutil.copyfile(root / "postgres.log", self.logs / "postgres.log")
        shutil.rmtree(root, ignore_errors=True)
        self._pg_root = self._pg_data = self._pg_pid = None


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement for re.sub that inserts `text` as it is (no backslash escapes)."""
    return lambda _match: text


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _name(process: psutil.Process) -> str:
    try:
        return str(process.name())
    except psutil.NoSuchProcess:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "native-stack")
    parser.add_argument("--landing", type=Path, default=ROOT / "include" / "sample_exports")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--env-file", type=Path, help="a .env (default: throwaway secrets)")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    overrides = {
        "GOVERNANCE_LANDING_HOST_DIR": str(args.landing.resolve()),
        "GOVERNANCE_OUTPUT_HOST_DIR": str(workdir / "outputs"),
    }
    env = read_env_file(args.env_file) | overrides if args.env_file else throwaway_env(overrides)
    with NativeStack(workdir, env, workdir / "logs", {"airflow-worker": args.workers}) as stack:
        api = stack.replicas[PUBLIC_ADDRESS[0]][0].env
        logins = api["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
        print(f"Airflow: {stack.env[PUBLIC_ADDRESS[3]]} (login: admin, password in {logins})")
        print(f"logs: {stack.logs}; outputs: {workdir / 'outputs'}. Stop with Ctrl-C.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
