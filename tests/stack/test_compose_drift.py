"""docker-compose.yml, the Dockerfile, .env.example, the pins and the native topology
(scripts/native_stack.py, which tests/stack/test_native_stack.py starts) describe the same
stack: services, commands, images and versions, executor, broker and databases, settings.
The native side may differ only where a container differs from a host (addresses, paths),
and every such difference is checked to be nothing more than that."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import pytest
import yaml

from scripts.native_stack import (
    ADDED_SETTINGS,
    ENV_EXAMPLE,
    IMAGE_HOME,
    PORT_SETTINGS,
    PROJECT_DIR,
    NativeStack,
    Replica,
    StackError,
    image_argv,
    interpolate,
    load_compose,
    native_versions,
    read_env_file,
    referenced_variables,
    throwaway_env,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_DATABASES = ROOT / "deploy" / "postgres" / "init-databases.sh"
INIT = ROOT / "deploy" / "init.sh"

# What each Airflow component is, by the command its service runs.
COMPONENTS = {
    ("airflow", "api-server"): "airflow-apiserver",
    ("airflow", "scheduler"): "airflow-scheduler",
    ("airflow", "dag-processor"): "airflow-dag-processor",
    ("airflow", "triggerer"): "airflow-triggerer",
    ("airflow", "celery", "worker"): "airflow-worker",
}


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = pinned
    return found


def airflow_image() -> tuple[str, str, str]:
    """The Dockerfile's base image: (repository, Airflow version, Python version)."""
    match = re.search(r"^ARG AIRFLOW_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "the Dockerfile names its base image in ARG AIRFLOW_IMAGE"
    repository, _, tag = match[1].partition(":")
    parts = re.fullmatch(r"(?:slim-)?(\d+\.\d+\.\d+)-python(\d+\.\d+)", tag)
    assert parts, f"{match[1]}: expected apache/airflow:[slim-]X.Y.Z-pythonA.B"
    return repository, parts[1], parts[2]


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return throwaway_env({"GOVERNANCE_LANDING_HOST_DIR": "/srv/landing"})


@pytest.fixture(scope="module")
def stack(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> NativeStack:
    """The native plan (nothing is started)."""
    work = tmp_path_factory.mktemp("native")
    return NativeStack(work, env, work / "logs", {"airflow-worker": 2}, say=lambda _: None)


def test_both_sides_run_the_same_services_and_commands(
    stack: NativeStack, env: dict[str, str]
) -> None:
    services = load_compose(env)
    running = {name for name, s in services.items() if not s.profiles}
    commands = {}
    for name, service in services.items():
        if service.airflow and not service.profiles:
            length = 3 if service.argv[1:2] == ["celery"] else 2
            commands[tuple(service.argv[:length])] = name
    # Every Airflow component of the CeleryExecutor topology, once, plus init and servers.
    assert {k: commands.get(k) for k in COMPONENTS} == COMPONENTS
    assert running == {*COMPONENTS.values(), "airflow-init", "postgres", "redis"}
    assert services["airflow-init"].argv == ["bash", f"{PROJECT_DIR}/deploy/init.sh"]

    plan = stack
    assert set(plan.replicas) | {"postgres", "redis"} == running
    assert [r.name for r in plan.replicas["airflow-worker"]] == [
        "airflow-worker-1",
        "airflow-worker-2",
    ]
    for name, replicas in plan.replicas.items():
        for replica in replicas:
            argv = [unlocate(a, replica, plan) for a in replica.argv]
            extra = ["--celery-hostname", replica.name] if name == "airflow-worker" else []
            assert argv == [addresses(a) for a in services[name].argv] + extra, replica.name


def test_native_settings_are_the_compose_settings_but_for_addresses_and_paths(
    stack: NativeStack, env: dict[str, str]
) -> None:
    services = load_compose(env)  # as docker compose reads it, with .env's values
    for name, replicas in stack.replicas.items():
        compose_env = services[name].environment
        for replica in replicas:
            assert set(replica.env) - ADDED_SETTINGS == set(compose_env), replica.name
            for key, value in compose_env.items():
                here = unlocate(replica.env[key], replica, stack)
                assert here == addresses(value), (replica.name, key)
            if services[name].healthcheck:
                check = [unlocate(a, replica, stack) for a in replica.healthcheck or []]
                assert check == [addresses(a) for a in services[name].healthcheck or []]
            # Each address is the right server's: the API server, PostgreSQL, Redis.
            api = stack.replicas["airflow-apiserver"][0].env["AIRFLOW__API__PORT"]
            pg, redis = stack.host_ports["postgres"], stack.host_ports["redis"]
            native = replica.env
            assert url(native["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).port == int(api)
            assert url(native["AIRFLOW__CELERY__BROKER_URL"]).port == redis
            for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "GOVERNANCE_DB_URL"):
                assert url(native[key]).port == pg, (replica.name, key)
            for container, setting in PORT_SETTINGS.items():
                assert replica.ports[container] == int(native[setting])


def url(text: str) -> SplitResult:
    """A database or broker URL's parts (urlsplit refuses `+` and `_` in a scheme)."""
    scheme, _, rest = text.partition("://")
    return urlsplit(f"x://{rest}")._replace(scheme=scheme)


def addresses(text: str) -> str:
    """`<service or localhost>:<port>` as `ADDRESS:<port>`."""
    return re.sub(r"(?<![\w.-])[a-z][\w-]*:(\d+)\b", r"ADDRESS:\1", text)


def unlocate(native: str, replica: Replica, stack: NativeStack) -> str:
    """A native string in container terms: `127.0.0.1:<host port>` as `ADDRESS:<the
    container port it stands for>`, host folders as the container paths they stand for."""
    ports = {port: 5432 if name == "postgres" else 6379 for name, port in stack.host_ports.items()}
    ports.update({n: c for c, n in replica.ports.items()})
    for replicas in stack.replica_ports.values():
        ports.update({n: c for c, n in replicas[0].items()})
    text = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"ADDRESS:{ports[int(m[1])]}", native)
    paths = {str(ROOT): PROJECT_DIR, replica.env["AIRFLOW_HOME"]: IMAGE_HOME}
    for volume in replica.service.volumes:
        paths[str(stack.volume_dir(volume))] = volume.target
    for host, container in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(host, container)
    return text


def test_versions_and_pins_agree() -> None:
    repository, airflow, python = airflow_image()
    assert repository == "apache/airflow"
    pinned = pins()
    assert pinned["apache-airflow"] == pinned["apache-airflow-core"] == airflow
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["airflow"]
    assert f"apache-airflow=={airflow}" in extras
    assert any(e.startswith("apache-airflow-providers-celery") for e in extras)
    # The native side runs this virtualenv: the image's Python and exactly the pinned set.
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == python
    for needed in ("apache-airflow", "apache-airflow-providers-celery", "celery", "redis"):
        assert needed in pinned, f"{needed} is not pinned in constraints.txt"
    drifted = {}
    for name, wanted in pinned.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if installed != wanted:
            drifted[name] = (wanted, installed)
    assert not drifted, f"installed versions differ from constraints.txt: {drifted}"
    # The image compose builds is tagged with the same Airflow version.
    common = yaml.safe_load(COMPOSE.read_text())["x-airflow-common"]
    assert common["image"].endswith(f":{airflow}}}"), common["image"]
    assert read_env_file(ENV_EXAMPLE)["AIRFLOW_IMAGE_NAME"].endswith(f":{airflow}")
    assert common["build"] == {"context": ".", "dockerfile": "Dockerfile"}


def test_dockerfile_installs_the_project_with_the_pins() -> None:
    text = DOCKERFILE.read_text()
    assert f"WORKDIR {PROJECT_DIR}\n" in text
    assert 'pip install --no-cache-dir -c constraints.txt -e ".[airflow]"' in text
    assert "pip check" in text
    for folder in ("include", "dags", "plugins", "deploy"):
        assert f"COPY --chown=airflow:0 {folder} ./{folder}" in text
    # Nothing else reaches the build context: no .env, no data, no virtualenv.
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :].count("!.env") == 0 and "*" in ignored


def test_executor_broker_and_databases(env: dict[str, str]) -> None:
    services = load_compose(env)
    settings = services["airflow-scheduler"].environment
    for name, service in services.items():
        if service.airflow:  # one configuration for every Airflow container
            for key in (k for k in settings if k.startswith("AIRFLOW")):
                assert service.environment.get(key) == settings[key], (name, key)
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = url(settings["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    assert broker.password == env["REDIS_PASSWORD"]
    metadata = url(settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    asynchronous = url(settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"])
    backend = url(settings["AIRFLOW__CELERY__RESULT_BACKEND"])
    connection = url(settings["AIRFLOW_CONN_GOVERNANCE_DB"])
    store = url(settings["GOVERNANCE_DB_URL"])
    assert metadata.scheme == "postgresql+psycopg" and store.scheme == "postgresql+psycopg"
    assert asynchronous.scheme == "postgresql+psycopg_async"
    assert backend.scheme == "db+postgresql+psycopg" and connection.scheme == "postgresql"

    def where(u: SplitResult) -> tuple[str | int | None, ...]:
        return (u.hostname, u.port, u.username, u.password, u.path)

    assert where(metadata) == where(asynchronous) == where(backend)
    assert where(connection) == where(store)
    assert where(metadata)[:2] == where(store)[:2] == ("postgres", 5432)
    # Two databases, two roles, as deploy/postgres/init-databases.sh creates them.
    created = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", INIT_DATABASES.read_text()))
    assert created == {"airflow": "airflow", "governance": "governance"}
    assert (metadata.path, metadata.username) == ("/airflow", "airflow")
    assert (store.path, store.username) == ("/governance", "governance")
    assert metadata.password == env["AIRFLOW_DB_PASSWORD"]
    assert store.password == env["GOVERNANCE_DB_PASSWORD"]
    postgres = services["postgres"]
    assert any(v.source == "./deploy/postgres/init-databases.sh" for v in postgres.volumes)
    # The DAGs read the landing area and write the outputs on mounted volumes.
    volumes = {v.target: v for v in services["airflow-worker"].volumes}
    assert settings["GOVERNANCE_LANDING_DIR"] in volumes
    assert volumes[settings["GOVERNANCE_LANDING_DIR"]].read_only
    assert settings["GOVERNANCE_OUTPUT_DIR"] in volumes
    assert settings["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] in volumes
    # The init step migrates both databases and writes the admin login from .env.
    init = INIT.read_text()
    assert "\nairflow db migrate\n" in init and "\ngovernance db migrate\n" in init


def test_services_are_healthchecked_scalable_and_ordered(env: dict[str, str]) -> None:
    services = load_compose(env)
    raw = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        if service.profiles or name == "airflow-init":
            continue
        assert service.healthcheck, f"{name} has no healthcheck"
        assert raw[name].get("restart") == "always", name
        if service.airflow:
            assert service.depends_on.get("airflow-init") == "service_completed_successfully"
            assert service.depends_on.get("postgres") == "service_healthy"
            assert service.depends_on.get("redis") == "service_healthy"
    worker = raw["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale works
    assert services["airflow-worker"].depends_on["airflow-apiserver"] == "service_healthy"
    assert services["airflow-apiserver"].ports == [f"{env['AIRFLOW_API_PORT']}:8080"]


def test_env_example_names_every_variable_and_holds_no_secret() -> None:
    variables = referenced_variables(COMPOSE.read_text())
    example = read_env_file(ENV_EXAMPLE)
    assert set(variables) <= set(example), set(variables) - set(example)
    required = {name for name, op in variables.items() if op == ":?"}
    assert required, "secrets are required (`${VAR:?...}`)"
    assert {name: example[name] for name in required} == dict.fromkeys(required, "")
    # Every secret compose requires fails loudly when .env lacks it.
    with pytest.raises(StackError, match="AIRFLOW_FERNET_KEY"):
        load_compose({k: v for k, v in throwaway_env().items() if k != "AIRFLOW_FERNET_KEY"})
    tracked = subprocess.run(
        ["git", "ls-files", "--", ".env"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert tracked.stdout.strip() == "", ".env must never be committed"


def test_compose_substitution_and_the_image_entrypoint() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${UNSET:-d} ${EMPTY-d} ${UNSET-d}", env) == (
        "v d d  d"
    )
    assert interpolate("$$HOSTNAME $${HOSTNAME} $SET", env) == "$HOSTNAME ${HOSTNAME} v"
    with pytest.raises(StackError, match="EMPTY: needed"):
        interpolate("${EMPTY:?needed}", env)
    assert interpolate("${EMPTY?needed}", env) == ""
    assert image_argv([], ["celery", "worker"]) == ["airflow", "celery", "worker"]
    assert image_argv([], ["bash", "x.sh"]) == ["bash", "x.sh"]
    assert image_argv(["governance"], ["--help"]) == ["governance", "--help"]


@pytest.mark.stack
def test_native_servers_are_the_versions_of_the_compose_images(env: dict[str, str]) -> None:
    try:
        native = native_versions()
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)
    services = load_compose(env)
    for name in ("postgres", "redis"):
        tag = services[name].image.partition(":")[2]
        assert native[name].split(".")[0] == tag.split(".")[0].split("-")[0], (name, native)
