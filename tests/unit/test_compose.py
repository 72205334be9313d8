"""The container recipe agrees with the code: docker-compose.yml, Dockerfile, Centrifugo's config.

Nothing here runs Docker; the files are parsed and cross-checked against
``callercard.settings.Settings`` and ``pyproject.toml``.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from callercard.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = ROOT / "docker-compose.yml"
DOCKERFILE_PATH = ROOT / "Dockerfile"
PYPROJECT_PATH = ROOT / "pyproject.toml"
CENTRIFUGO_CONFIG_PATH = ROOT / "deploy" / "centrifugo" / "config.json"

COMPOSE_TEXT = COMPOSE_PATH.read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE.get("services") or {}
DOCKERFILE_TEXT = DOCKERFILE_PATH.read_text(encoding="utf-8")

ENV_PREFIX = "CALLERCARD_"
SETTINGS_ENV_NAMES = {ENV_PREFIX + name.upper(): name for name in Settings.model_fields}
REQUIRED_ENV_NAMES = sorted(
    ENV_PREFIX + name.upper() for name, field in Settings.model_fields.items() if field.is_required()
)

EXPECTED_SERVICES = ["mongo", "redis", "centrifugo", "asterisk", "api", "api-2", "worker", "listener",
                     "listener-standby"]
APP_IMAGE = "callercard:latest"
APP_SERVICES = [("api", "api"), ("api-2", "api"), ("worker", "worker"), ("listener", "listener"),
                ("listener-standby", "listener")]
APP_SERVICE_NAMES = [name for name, _ in APP_SERVICES]

EXPECTED_DEPENDENCIES = [
    ("api", ["mongo", "redis", "centrifugo"]),
    ("worker", ["mongo", "redis", "centrifugo"]),
    ("listener", ["mongo", "redis", "centrifugo", "asterisk"]),
    ("listener-standby", ["mongo", "redis", "centrifugo", "asterisk"]),
    ("api-2", ["mongo", "redis", "centrifugo"]),
    ("centrifugo", ["redis"]),
]

# (env var with a URL, service it must name, port that service listens on in its container)
URL_ENDPOINTS = [
    ("CALLERCARD_MONGO_URL", "mongo", 27017),
    ("CALLERCARD_REDIS_URL", "redis", 6379),
    ("CALLERCARD_CENTRIFUGO_API_URL", "centrifugo", 8000),
]
# (host env var, port env var, service, container port)
HOST_PORT_ENDPOINTS = [
    ("CALLERCARD_AMI_HOST", "CALLERCARD_AMI_PORT", "asterisk", 5038),
]

# Centrifugo's own settings that must come from the same variable callercard reads.
CENTRIFUGO_SHARED_SECRETS = [
    ("CENTRIFUGO_HTTP_API_KEY", "CALLERCARD_CENTRIFUGO_API_KEY"),
    ("CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY", "CALLERCARD_CENTRIFUGO_TOKEN_SECRET"),
]

# `${NAME:-default}` entries whose default is deliberately not the Settings default.
CONTAINER_SPECIFIC_DEFAULTS = {"CALLERCARD_CENTRIFUGO_WEBSOCKET_URL"}

REQUIRED_FORM = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?(?P<message>[^}]+)\}$")
DEFAULT_FORM = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):-(?P<default>[^}]*)\}$")
CALLERCARD_NAME = re.compile(r"\bCALLERCARD_[A-Z0-9_]+\b")


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def resolved(value: str) -> str:
    """What compose substitutes when the variable is unset: the ``:-`` default, else the value itself."""
    match = DEFAULT_FORM.match(value)
    return match["default"] if match else value


def _port_spec(entry: Any) -> tuple[int | None, int]:
    """(host port or None, container port) of one ``ports``/``expose`` entry."""
    if isinstance(entry, dict):
        published = entry.get("published")
        return (int(published) if published is not None else None, int(entry["target"]))
    parts = str(entry).split("/", 1)[0].split(":")
    container = int(parts[-1])
    host = int(parts[-2]) if len(parts) >= 2 and parts[-2] else None
    return host, container


def container_ports(service: str) -> set[int]:
    entries = [*(SERVICES[service].get("ports") or []), *(SERVICES[service].get("expose") or [])]
    return {_port_spec(entry)[1] for entry in entries}


def published_ports(service: str) -> dict[int, int]:
    """container port -> host port, for the ports the service publishes."""
    specs = [_port_spec(entry) for entry in SERVICES[service].get("ports") or []]
    return {container: host for host, container in specs if host is not None}


def depends_on(service: str) -> Any:
    return SERVICES[service].get("depends_on") or {}


def dockerfile_instructions(keyword: str) -> list[str]:
    """Arguments of each ``keyword`` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE_TEXT)
    return [
        line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
        for line in joined.splitlines()
        if line.strip().upper().startswith(keyword.upper() + " ")
    ]


def dockerfile_exec_form(keyword: str) -> list[str]:
    values = dockerfile_instructions(keyword)
    assert values, f"Dockerfile has no {keyword}"
    parsed = json.loads(values[-1])  # the last one wins
    assert isinstance(parsed, list), f"{keyword} must use the exec (JSON array) form"
    return parsed


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in dockerfile_instructions("ENV"):
        for token in shlex.split(args):
            if "=" in token:
                key, value = token.split("=", 1)
                env[key] = value
    return env


def centrifugo_config() -> dict[str, Any]:
    return json.loads(CENTRIFUGO_CONFIG_PATH.read_text(encoding="utf-8"))


def _all_depended_upon() -> list[str]:
    targets: set[str] = set()
    for name in SERVICES:
        targets.update(depends_on(name))
    return sorted(targets)


def _all_dependency_edges() -> list[tuple[str, str]]:
    return [(name, target) for name in SERVICES for target in depends_on(name)]


def _callercard_names_in_files() -> list[tuple[str, str]]:
    return sorted(
        {("docker-compose.yml", name) for name in CALLERCARD_NAME.findall(COMPOSE_TEXT)}
        | {("Dockerfile", name) for name in CALLERCARD_NAME.findall(DOCKERFILE_TEXT)}
    )


def _passthrough_defaults() -> list[tuple[str, str, str]]:
    """(service, key, default) for each ``KEY: ${KEY:-default}`` of a callercard service."""
    rows = []
    for service in APP_SERVICE_NAMES:
        for key, value in environment(service).items():
            match = DEFAULT_FORM.match(value)
            if match and match["name"] == key and key not in CONTAINER_SPECIFIC_DEFAULTS:
                rows.append((service, key, match["default"]))
    return rows


# --- services ---------------------------------------------------------------------


@pytest.mark.parametrize("service", EXPECTED_SERVICES)
def test_expected_service_exists(service: str) -> None:
    assert service in SERVICES, f"docker-compose.yml has no `{service}` service"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_an_image_or_a_build(service: str) -> None:
    definition = SERVICES[service]
    assert definition.get("image") or definition.get("build"), f"{service}: neither image nor build"


@pytest.mark.parametrize(("service", "subcommand"), APP_SERVICES)
def test_callercard_services_build_the_one_image_and_run_their_subcommand(
    service: str, subcommand: str
) -> None:
    definition = SERVICES[service]
    assert definition.get("build") == ".", f"{service}: build must be `.`"
    assert definition.get("image") == APP_IMAGE, f"{service}: image must be {APP_IMAGE}"
    command = definition.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    assert command == [subcommand], f"{service}: command {command!r}, want [{subcommand!r}]"
    assert "entrypoint" not in definition, f"{service}: must keep the image's `callercard` entrypoint"


def test_callercard_services_share_one_image_name() -> None:
    images = {SERVICES[name].get("image") for name in APP_SERVICE_NAMES}
    assert len(images) == 1, f"api, worker and listener use different images: {images}"


# --- dependencies and health ------------------------------------------------------------


@pytest.mark.parametrize(("service", "expected"), EXPECTED_DEPENDENCIES)
def test_callercard_service_waits_for_its_backing_services(service: str, expected: list[str]) -> None:
    missing = sorted(set(expected) - set(depends_on(service)))
    assert not missing, f"{service} does not depend on {missing}"


@pytest.mark.parametrize("service", _all_depended_upon())
def test_every_depended_upon_service_has_a_healthcheck(service: str) -> None:
    assert service in SERVICES, f"something depends on `{service}`, which is not defined"
    healthcheck = SERVICES[service].get("healthcheck") or {}
    assert not healthcheck.get("disable"), f"{service}: healthcheck is disabled"
    test = healthcheck.get("test")
    assert test and test not in (["NONE"], "NONE"), f"{service}: no healthcheck test"


@pytest.mark.parametrize(("service", "target"), _all_dependency_edges())
def test_every_depends_on_waits_for_healthy(service: str, target: str) -> None:
    entries = depends_on(service)
    assert isinstance(entries, dict), f"{service}: depends_on must be the long form with conditions"
    condition = (entries[target] or {}).get("condition")
    assert condition == "service_healthy", f"{service} -> {target}: condition is {condition!r}"


def test_api_healthcheck_reads_readiness_on_the_api_port_not_the_whole_system_status() -> None:
    """Readiness is the API's own dependencies; /status includes the listener's AMI link, which lookups never need."""
    test = SERVICES["api"]["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else str(test)
    port = int(resolved(environment("api")["CALLERCARD_API_PORT"]))
    assert f"127.0.0.1:{port}/health/ready" in command or f"localhost:{port}/health/ready" in command, command
    assert "/status" not in command, command


# --- environment ---------------------------------------------------------------


@pytest.mark.parametrize(("source", "name"), _callercard_names_in_files())
def test_every_callercard_variable_is_a_setting(source: str, name: str) -> None:
    assert name in SETTINGS_ENV_NAMES, f"{source} sets {name}, which Settings does not read (typo?)"


def test_there_are_required_settings_to_check() -> None:
    assert REQUIRED_ENV_NAMES, "Settings has no required fields; this suite's secret checks are vacuous"


@pytest.mark.parametrize("service", APP_SERVICE_NAMES)
@pytest.mark.parametrize("name", REQUIRED_ENV_NAMES)
def test_required_setting_is_provided_without_a_default(service: str, name: str) -> None:
    env = environment(service)
    assert name in env, f"{service} does not get {name}"
    match = REQUIRED_FORM.match(env[name])
    assert match, f"{service}: {name} must be `${{{name}:?message}}`, got {env[name]!r}"
    assert match["name"] == name, f"{service}: {name} is read from ${{{match['name']}}}"


@pytest.mark.parametrize(("centrifugo_key", "callercard_name"), CENTRIFUGO_SHARED_SECRETS)
def test_centrifugo_gets_its_secrets_from_callercards_variables(
    centrifugo_key: str, callercard_name: str
) -> None:
    value = environment("centrifugo").get(centrifugo_key, "")
    match = REQUIRED_FORM.match(value)
    assert match and match["name"] == callercard_name, (
        f"centrifugo: {centrifugo_key} must be `${{{callercard_name}:?message}}`, got {value!r}"
    )


@pytest.mark.parametrize(("service", "key", "default"), _passthrough_defaults())
def test_passthrough_defaults_match_settings(service: str, key: str, default: str) -> None:
    field_default = Settings.model_fields[SETTINGS_ENV_NAMES[key]].default
    expected = ",".join(field_default) if isinstance(field_default, list) else str(field_default)
    assert default == expected, f"{service}: {key} defaults to {default!r}, Settings to {expected!r}"


@pytest.mark.parametrize("service", APP_SERVICE_NAMES)
def test_api_listens_on_all_interfaces(service: str) -> None:
    assert environment(service).get("CALLERCARD_API_HOST") == "0.0.0.0"


# --- endpoints ------------------------------------------------------------------


def _check_endpoint(host: str | None, port: int | None, target: str, default_port: int, what: str) -> None:
    assert host == target, f"{what}: host {host!r} is not the `{target}` service"
    assert target in SERVICES, f"{what}: no `{target}` service"
    assert port == default_port, f"{what}: port {port}, `{target}` listens on {default_port}"
    declared = container_ports(target)
    assert not declared or default_port in declared, (
        f"{what}: `{target}` declares container ports {sorted(declared)}, not {default_port}"
    )


@pytest.mark.parametrize("service", APP_SERVICE_NAMES)
@pytest.mark.parametrize(("variable", "target", "default_port"), URL_ENDPOINTS)
def test_url_points_at_the_service(service: str, variable: str, target: str, default_port: int) -> None:
    url = urlsplit(resolved(environment(service)[variable]))
    _check_endpoint(url.hostname, url.port, target, default_port, f"{service}: {variable}")


@pytest.mark.parametrize("service", APP_SERVICE_NAMES)
@pytest.mark.parametrize(("host_var", "port_var", "target", "default_port"), HOST_PORT_ENDPOINTS)
def test_host_and_port_point_at_the_service(
    service: str, host_var: str, port_var: str, target: str, default_port: int
) -> None:
    env = environment(service)
    _check_endpoint(
        resolved(env[host_var]), int(resolved(env[port_var])), target, default_port, f"{service}: {port_var}"
    )


def test_centrifugo_listens_where_callercard_looks() -> None:
    assert centrifugo_config()["http_server"]["port"] == 8000


def test_centrifugo_websocket_default_is_the_published_port() -> None:
    url = urlsplit(resolved(environment("api")["CALLERCARD_CENTRIFUGO_WEBSOCKET_URL"]))
    assert url.scheme in ("ws", "wss")
    assert url.path == "/connection/websocket"
    published = published_ports("centrifugo")
    assert published.get(centrifugo_config()["http_server"]["port"]) == url.port, (
        f"browsers are sent to port {url.port}; centrifugo publishes {published}"
    )


def test_api_port_is_published_and_exposed() -> None:
    port = int(resolved(environment("api")["CALLERCARD_API_PORT"]))
    assert port == 8090
    assert port in container_ports("api")
    assert str(port) in " ".join(dockerfile_instructions("EXPOSE")).split()


def test_centrifugo_mounts_the_config_it_is_told_to_read() -> None:
    definition = SERVICES["centrifugo"]
    command = definition["command"]
    args = shlex.split(command) if isinstance(command, str) else list(command)
    config_path = args[args.index("--config") + 1]
    mounts = [str(volume).split(":") for volume in definition.get("volumes") or []]
    sources = {mount[1]: mount[0] for mount in mounts if len(mount) >= 2}
    assert config_path in sources, f"{config_path} is not mounted into centrifugo"
    assert (ROOT / sources[config_path]).resolve() == CENTRIFUGO_CONFIG_PATH.resolve()


# --- Dockerfile and pyproject --------------------------------------------------------


def test_dockerfile_entrypoint_is_the_console_script() -> None:
    assert dockerfile_exec_form("ENTRYPOINT") == ["callercard"]
    assert dockerfile_exec_form("CMD") == ["api"]


def test_console_script_is_declared() -> None:
    scripts = tomllib.loads(PYPROJECT_PATH.read_text(encoding="utf-8"))["project"].get("scripts", {})
    assert "callercard" in scripts, "pyproject.toml [project.scripts] does not declare `callercard`"
    assert re.fullmatch(r"[\w.]+:\w+", scripts["callercard"]), scripts["callercard"]


def test_dockerfile_base_user_and_install() -> None:
    bases = dockerfile_instructions("FROM")
    python_stages = [base for base in bases if not base.endswith(" AS widget")]
    assert python_stages and all(base.split()[0] == "python:3.11-slim" for base in python_stages), bases
    assert bases[-1] == "python:3.11-slim", "the image that runs is the Python one"
    users = dockerfile_instructions("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"runs as {users[-1:]}"
    installs = [args for args in dockerfile_instructions("RUN") if "pip install" in args]
    assert any(re.search(r"pip install\s+(\S+\s+)*\.(\s|$)", args) for args in installs), installs
    assert not any("[test]" in args or ".[" in args for args in installs), "dev extras in the image"


def test_dockerfile_sets_api_host_to_all_interfaces() -> None:
    assert dockerfile_env().get("CALLERCARD_API_HOST") == "0.0.0.0"


# --- Centrifugo config ----------------------------------------------------------


def _namespaces() -> dict[str, dict[str, Any]]:
    return {ns["name"]: ns for ns in centrifugo_config().get("channel", {}).get("namespaces", [])}


@pytest.mark.parametrize(
    ("namespace", "option"),
    [("agent", "allow_user_limited_channels"), ("queues", "allow_subscribe_for_client")],
)
def test_centrifugo_namespace(namespace: str, option: str) -> None:
    namespaces = _namespaces()
    assert namespace in namespaces, f"no `{namespace}` namespace in {CENTRIFUGO_CONFIG_PATH.name}"
    assert namespaces[namespace].get(option) is True, f"{namespace}: {option} must be true"


def test_centrifugo_health_endpoint_is_enabled() -> None:
    assert centrifugo_config().get("health", {}).get("enabled") is True


@pytest.mark.parametrize("path", [("http_api", "key"), ("client", "token", "hmac_secret_key"), ("api_key",)])
def test_centrifugo_config_holds_no_secrets(path: tuple[str, ...]) -> None:
    node: Any = centrifugo_config()
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    pytest.fail(f"{CENTRIFUGO_CONFIG_PATH.name} hard-codes {'.'.join(path)}; it comes from the environment")


def test_the_image_builds_the_widget_from_its_lockfile_and_ships_it() -> None:
    assert any(base.startswith("node:") and base.endswith(" AS widget") for base in dockerfile_instructions("FROM"))
    assert "npm ci --no-audit --no-fund" in dockerfile_instructions("RUN")
    assert any(args.startswith("--from=widget") and args.endswith("callercard/widget/dist")
               for args in dockerfile_instructions("COPY"))


def test_centrifugo_checks_the_audience_callercard_gives_connection_tokens() -> None:
    from callercard.centrifugo import API_AUDIENCE, CONNECTION_AUDIENCE

    audience = centrifugo_config().get("client", {}).get("token", {}).get("audience")
    assert audience == CONNECTION_AUDIENCE != API_AUDIENCE, "an API token would connect to Centrifugo"


# --- production shape (issue 16) ---------------------------------------------------


def _setting(service: str, name: str) -> str:
    value = environment(service).get(f"CALLERCARD_{name.upper()}")
    return resolved(value) if value is not None else str(Settings.model_fields[name].default)


def _command(service: str) -> list[str]:
    command = SERVICES[service].get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def test_every_pbx_has_an_active_and_a_standby_listener_with_their_own_names() -> None:
    listeners: dict[str, list[str]] = {}
    for service in SERVICES:
        if _command(service) == ["listener"]:
            listeners.setdefault(_setting(service, "pbx_id"), []).append(_setting(service, "listener_id"))
    assert listeners, "no listener service"
    for pbx, names in listeners.items():
        assert len(names) >= 2, f"PBX {pbx} has {len(names)} listener(s): no standby to take over"
        assert all(names) and len(set(names)) == len(names), f"PBX {pbx}: listeners must name themselves apart"


def test_two_api_replicas_on_their_own_host_ports() -> None:
    apis = [service for service in SERVICES if _command(service) == ["api"]]
    assert len(apis) >= 2, apis
    hosts = [published_ports(service).get(int(_setting(service, "api_port"))) for service in apis]
    assert None not in hosts and len(set(hosts)) == len(hosts), hosts


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    command = _command("redis")
    assert command[command.index("--appendonly") + 1] == "yes", command
    assert any(str(volume).endswith(":/data") for volume in SERVICES["redis"].get("volumes") or [])


def test_mongo_is_a_replica_set_and_callercard_connects_to_it_as_one() -> None:
    command = _command("mongo")
    name = command[command.index("--replSet") + 1]
    url = urlsplit(resolved(environment("api")["CALLERCARD_MONGO_URL"]))
    assert f"replicaSet={name}" in url.query, url
    assert name in " ".join(SERVICES["mongo"]["healthcheck"]["test"]), "the healthcheck initiates the set"


def test_centrifugo_runs_its_redis_engine_on_the_compose_redis() -> None:
    assert centrifugo_config()["engine"]["type"] == "redis"
    url = urlsplit(resolved(environment("centrifugo")["CENTRIFUGO_ENGINE_REDIS_ADDRESS"]))
    _check_endpoint(url.hostname, url.port, "redis", 6379, "centrifugo: CENTRIFUGO_ENGINE_REDIS_ADDRESS")


def test_the_listeners_metrics_port_is_exposed() -> None:
    for service in SERVICES:
        if _command(service) == ["listener"]:
            port = int(_setting(service, "listener_metrics_port"))
            assert port and port in container_ports(service), f"{service}: metrics on {port} not exposed"
