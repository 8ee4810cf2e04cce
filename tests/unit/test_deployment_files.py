"""What a user relies on in the Dockerfile, docker-compose.yml, .env.example and .dockerignore.

There is no Docker here: the files are parsed and held against the settings they configure
(``Settings`` and ``Limits``) and the CLI they run. The health probe is run for real against a
gRPC health service on the loopback.
"""

import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from memoire_cli.main import cli
from memoire_core.config import Limits, Settings
from memoire_stack import envoy

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

MEMOIRE_SERVICES = ("migrate", "server", "worker", "scheduler")
PROVIDER_KEYS = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY"}
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD"}
SECRETS = {"POSTGRES_PASSWORD", "MEMOIRE_SECRET_KEY"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY")
REQUIRED_REFERENCE = re.compile(r"\$\{[A-Z_][A-Z0-9_]*:\?[^}]+\}")


# --- the settings ---------------------------------------------------------------------------


def env_names(model: type[BaseSettings]) -> dict[str, FieldInfo]:
    """Environment variable -> field, nested settings under their own prefix."""
    prefix = str(model.model_config.get("env_prefix", ""))
    names: dict[str, FieldInfo] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= env_names(annotation)
        else:
            names[(prefix + name).upper()] = field
    return names


SETTINGS = env_names(Settings)


def test_the_settings_are_derived_from_both_settings_classes():
    assert "MEMOIRE_SECRET_KEY" in SETTINGS
    assert "MEMOIRE_LIMIT_CONTENT_BYTES" in SETTINGS
    assert "MEMOIRE_LIMITS" not in SETTINGS
    assert len(SETTINGS) == len(Settings.model_fields) - 1 + len(Limits.model_fields)


# --- .env.example ---------------------------------------------------------------------------

ASSIGNMENT = re.compile(r"(?P<hash>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)")


@dataclass
class Entry:
    name: str
    value: str
    commented: bool
    comment: str  # the comment block right above the line, joined into one line


def env_example() -> list[Entry]:
    entries: list[Entry] = []
    block: list[str] = []
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        match = ASSIGNMENT.fullmatch(line)
        if match:
            entries.append(
                Entry(match["name"], match["value"], bool(match["hash"]), " ".join(block))
            )
            block = []
        elif line.startswith("#"):
            block.append(line.lstrip("#").strip())
        else:
            block = []
    return entries


def test_every_setting_is_documented_in_env_example():
    documented = {entry.name for entry in env_example()}
    assert sorted(set(SETTINGS) - documented) == []


def test_every_variable_in_env_example_is_a_real_setting():
    known = set(SETTINGS) | PROVIDER_KEYS | COMPOSE_VARIABLES
    assert sorted({entry.name for entry in env_example()} - known) == []


def test_each_variable_appears_once_in_env_example():
    names = [entry.name for entry in env_example()]
    assert sorted({name for name in names if names.count(name) > 1}) == []


def test_env_example_gives_each_setting_its_own_description():
    for entry in env_example():
        if entry.name not in SETTINGS:
            continue
        description = SETTINGS[entry.name].description
        assert entry.comment, f"{entry.name} has no description"
        if description:
            assert " ".join(description.split()) in entry.comment, entry.name


def test_env_example_shows_each_setting_at_its_real_default():
    for entry in env_example():
        if entry.name not in SETTINGS:
            continue
        field = SETTINGS[entry.name]
        assert field.annotation is not None
        shown = TypeAdapter(field.annotation).validate_python(entry.value)
        assert shown == field.get_default(call_default_factory=True), entry.name


def test_env_example_offers_the_llm_provider_keys_commented_and_empty():
    entries = {entry.name: entry for entry in env_example()}
    for name in PROVIDER_KEYS:
        assert name in entries, name
        assert entries[name].commented, name
        assert entries[name].value == "", name


def test_env_example_holds_no_secret_values():
    for entry in env_example():
        if SECRET_NAME.search(entry.name):
            assert entry.value == "", f"{entry.name} has a value in .env.example"


def test_env_example_lists_what_compose_requires_uncommented_for_the_user_to_fill():
    entries = {entry.name: entry for entry in env_example()}
    for name in required_variables():
        assert name in entries, name
        assert not entries[name].commented, name


# --- docker-compose.yml ---------------------------------------------------------------------

REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


class MissingVariableError(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and ${VAR?error}."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise MissingVariableError(f"{name}: {arg}")
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return str(arg)
        return value or ""

    return REFERENCE.sub(substitute, text.replace("$$", "\0")).replace("\0", "$")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def references() -> list[re.Match[str]]:
    return list(REFERENCE.finditer(COMPOSE.read_text().replace("$$", "")))


def required_variables() -> set[str]:
    return {match["name"] for match in references() if match["op"] in (":?", "?")}


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def one_shot_services() -> set[str]:
    return {
        name
        for service in services().values()
        for name, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }


def test_every_service_has_a_health_check_or_is_one_shot():
    one_shot = one_shot_services()
    for name, service in services().items():
        check = service.get("healthcheck") or {}
        if name in one_shot:
            assert service.get("restart", "no") == "no", f"one-shot {name} would restart"
            assert check.get("disable") is True, f"one-shot {name} would inherit a health check"
        else:
            assert check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_every_dependency_waits_for_a_condition_the_dependency_can_reach():
    one_shot = one_shot_services()
    for name, service in services().items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert "test" in (services()[dependency].get("healthcheck") or {}), dependency
            if dependency in one_shot:
                assert condition == "service_completed_successfully", (name, dependency)


def test_migrations_wait_for_a_healthy_database():
    assert depends_on(services()["migrate"])["db"] == "service_healthy"
    assert services()["migrate"]["command"] == ["memoire", "migrate"]


def test_server_waits_for_migrations_to_complete_and_the_database_to_be_healthy():
    deps = depends_on(services()["server"])
    assert deps["migrate"] == "service_completed_successfully"
    assert deps["db"] == "service_healthy"
    assert deps["redis"] == "service_healthy"


def test_worker_waits_for_migrations_and_a_healthy_redis():
    deps = depends_on(services()["worker"])
    assert deps["migrate"] == "service_completed_successfully"
    assert deps["redis"] == "service_healthy"


def test_envoy_waits_for_a_healthy_server():
    assert depends_on(services()["envoy"])["server"] == "service_healthy"


def test_database_and_redis_publish_no_host_ports():
    for name in ("db", "redis"):
        assert not services()[name].get("ports"), f"{name} publishes a port"
        assert not services()[name].get("network_mode"), f"{name} shares a network namespace"


def test_only_envoy_is_published_beyond_the_loopback():
    for name, service in services().items():
        for port in service.get("ports") or []:
            if name == "envoy":
                continue
            assert isinstance(port, str), f"{name}: {port!r} binds every interface"
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond the loopback"
    assert "8080:8080" in services()["envoy"]["ports"]


def test_no_literal_password_appears_in_compose():
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_REFERENCE.fullmatch(value), f"{name}: {key} is not ${{VAR:?...}}"
    credentials = [
        password
        for text in strings(compose())
        for password in re.findall(r"://[^:/@\s]+:(\$\{[^}]*\}|[^@\s]+)@", text)
    ]
    assert credentials, "the database URL should carry the password reference"
    for password in credentials:
        assert REQUIRED_REFERENCE.fullmatch(password), f"literal password {password!r}"


def test_every_secret_reference_in_compose_is_required_never_defaulted():
    for match in references():
        if SECRET_NAME.search(match["name"]):
            assert match["op"] == ":?", f"{match[0]} must be ${{{match['name']}:?...}}"
    assert required_variables() >= SECRETS


def test_compose_refuses_to_start_without_each_secret():
    env = dict.fromkeys(required_variables(), "x")
    yaml.safe_load(interpolate(COMPOSE.read_text(), env))
    for name in SECRETS:
        with pytest.raises(MissingVariableError, match=r"\.env"):
            interpolate(COMPOSE.read_text(), {**env, name: ""})


def test_every_variable_compose_reads_is_documented_in_env_example():
    documented = {entry.name for entry in env_example()}
    assert sorted({match["name"] for match in references()} - documented) == []


def test_every_memoire_variable_in_compose_is_a_real_setting():
    used = {match["name"] for match in references()}
    for service in services().values():
        used |= set(environment(service))
    assert sorted({name for name in used if name.startswith("MEMOIRE_")} - set(SETTINGS)) == []


def test_memoire_services_read_their_settings_from_the_env_file():
    for name in MEMOIRE_SERVICES:
        assert services()[name].get("env_file") in (".env", [".env"]), name


def test_memoire_services_share_one_database_redis_and_secret():
    envs = [environment(services()[name]) for name in MEMOIRE_SERVICES]
    for key in ("MEMOIRE_DATABASE_URL", "MEMOIRE_REDIS_URL", "MEMOIRE_SECRET_KEY"):
        values = {env.get(key) for env in envs}
        assert len(values) == 1, f"{key} differs between {MEMOIRE_SERVICES}"
        assert values != {None}, f"{key} is not set"


def test_the_database_url_points_at_the_database_service():
    env = dict.fromkeys(required_variables(), "pw")
    url = make_url(interpolate(environment(services()["server"])["MEMOIRE_DATABASE_URL"], env))
    db = environment(services()["db"])
    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "db"
    assert url.port == 5432
    assert url.username == db["POSTGRES_USER"]
    assert url.password == "pw"
    assert url.database == db["POSTGRES_DB"]
    assert db["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}"


def test_the_redis_url_points_at_the_redis_service():
    url = environment(services()["server"])["MEMOIRE_REDIS_URL"]
    assert url == "redis://redis:6379/0"


def test_the_server_listens_on_every_interface_of_its_container_at_the_port_envoy_sends_to():
    env = environment(services()["server"])
    assert env["MEMOIRE_GRPC_HOST"] == "0.0.0.0"
    assert envoy.upstream(envoy.load()) == {
        "address": "server",
        "port_value": int(env["MEMOIRE_GRPC_PORT"]),
    }


# --- scaling: docker compose up --scale server=N --scale worker=N ---------------------------

SCALED = ("server", "worker")


def test_scaled_services_publish_no_host_port_and_take_no_fixed_name():
    for name in SCALED:
        assert not services()[name].get("ports"), f"replicas of {name} would share a host port"
        assert "container_name" not in services()[name], name
        assert "hostname" not in services()[name], name
    assert not [name for name, s in services().items() if "container_name" in s]


def test_envoy_sends_to_every_server_replica_by_dns_and_checks_each():
    cluster = envoy.cluster(envoy.load())
    assert cluster["type"] == "STRICT_DNS"  # one host per address the name resolves to
    assert cluster["dns_refresh_rate"]  # replicas added or replaced join the rotation
    assert cluster["lb_policy"] == "ROUND_ROBIN"
    (check,) = cluster["health_checks"]
    assert "grpc_health_check" in check
    assert cluster["outlier_detection"]


def test_only_envoy_is_trusted_to_name_the_client_address():
    trusted = environment(services()["server"])["MEMOIRE_TRUSTED_PROXIES"]
    address = services()["envoy"]["networks"]["default"]["ipv4_address"]
    (pool,) = compose()["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_network(trusted) == ipaddress.ip_network(f"{address}/32")
    assert ipaddress.ip_address(address) in ipaddress.ip_network(pool["subnet"])
    # Replicas take addresses from the range alone, so none can be given Envoy's.
    assert ipaddress.ip_address(address) not in ipaddress.ip_network(pool["ip_range"])


def test_memoire_services_run_real_cli_commands():
    for name in MEMOIRE_SERVICES:
        args = services()[name]["command"]
        assert args[0] == "memoire", name
        command: click.Command = cli
        rest = list(args[1:])
        while isinstance(command, click.Group):
            assert rest, f"{name}: {args} names no subcommand"
            found = command.commands.get(rest.pop(0))
            assert found is not None, f"{name}: {args} is not a memoire command"
            command = found
        command.make_context(" ".join(args), rest)  # raises on an unknown option


def test_exactly_one_process_runs_the_periodic_scheduler():
    def schedules(command: list[str]) -> bool:
        return "--beat" in command or command[:2] == ["memoire", "scheduler"]

    beats = [name for name, service in services().items() if schedules(service.get("command", []))]
    assert beats == ["scheduler"]
    assert "scheduler" not in SCALED
    assert "deploy" not in services()["scheduler"]  # no replicas: one container


def test_the_scheduler_health_probe_is_valid_python():
    test = services()["scheduler"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "scheduler-healthcheck", "exec")


def test_data_survives_in_named_volumes():
    named = set(compose().get("volumes") or {})
    for name, path in (("db", "/var/lib/postgresql/data"), ("redis", "/data")):
        mounts = [str(volume).split(":") for volume in services()[name]["volumes"]]
        assert any(mount[0] in named and mount[1] == path for mount in mounts), name


def test_envoy_mounts_its_config_and_never_creates_it():
    (mount,) = services()["envoy"]["volumes"]
    assert mount["source"] == "./envoy/envoy.yaml"
    assert mount["target"] == "/etc/envoy/envoy.yaml"
    assert mount["read_only"] is True
    assert mount["bind"]["create_host_path"] is False


def test_the_worker_health_probe_is_valid_python():
    test = services()["worker"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "worker-healthcheck", "exec")


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The instructions, split into stages; leading ARGs go into a stage of their own."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1]
            continue
        line = pending + raw
        pending = ""
        if line.strip():
            logical.append(line.strip())
    stages: list[list[Instruction]] = [[]]
    for line in logical:
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), args.strip()))
    return stages


def final_stage() -> list[Instruction]:
    return dockerfile_stages()[-1]


def instruction(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


def exec_form(args: str) -> list[str]:
    parsed = json.loads(args)  # Docker silently falls back to a shell for invalid JSON
    assert isinstance(parsed, list)
    assert all(isinstance(item, str) for item in parsed)
    return parsed


def base_images() -> list[str]:
    global_args = dict(
        arg.split("=", 1) for arg in instruction(dockerfile_stages()[0], "ARG") if "=" in arg
    )
    images = []
    for stage in dockerfile_stages()[1:]:
        image = stage[0].args.split()[0]
        images.append(re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], image))
    return images


def test_the_dockerfile_runs_as_a_non_root_user():
    users = instruction(final_stage(), "USER")
    assert users, "the final stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    keywords = [i.keyword for i in final_stage()]
    assert keywords.index("USER") < keywords.index("CMD")


def test_the_dockerfile_runs_the_memoire_cli():
    (cmd,) = instruction(final_stage(), "CMD")
    entrypoint = [exec_form(args) for args in instruction(final_stage(), "ENTRYPOINT")]
    command = (entrypoint[-1] if entrypoint else []) + exec_form(cmd)
    assert command == ["memoire", "serve"]


def test_the_dockerfile_builds_and_runs_on_the_same_slim_python_311():
    images = base_images()
    assert len(images) >= 2
    assert images[-1].startswith("python:3.11-slim")
    assert len(set(images)) == 1, "the venv must run on the interpreter it was built with"
    assert any(i.args.startswith("--from=") for i in final_stage() if i.keyword == "COPY")


def test_the_dockerfile_installs_the_sdk_and_the_project_in_one_pip_command():
    runs = [args for stage in dockerfile_stages() for args in instruction(stage, "RUN")]
    installs = [shlex.split(args) for args in runs if "pip install" in args]
    assert any("./proto/python" in words and ".[otel]" in words for words in installs)


def test_the_dockerfile_ships_the_migrations_where_the_cli_finds_them():
    copies = [shlex.split(args) for args in instruction(final_stage(), "COPY")]
    sources = {words[0].rstrip("/") for words in copies if not words[0].startswith("--")}
    assert {"migrations", "alembic.ini"} <= sources
    runs = " ".join(instruction(final_stage(), "RUN"))
    assert "memoire_cli.migrate" in runs, "the image must link the migrations where the CLI looks"
    assert "get_current_head" in runs, "the build must prove the CLI finds the migrations"


def test_the_dockerfile_exposes_the_default_grpc_port():
    assert instruction(final_stage(), "EXPOSE") == [str(Settings.model_fields["grpc_port"].default)]


def test_every_memoire_variable_the_image_sets_is_a_real_setting():
    names = {
        word.split("=", 1)[0]
        for args in instruction(final_stage(), "ENV")
        for word in shlex.split(args)
    }
    assert sorted({name for name in names if name.startswith("MEMOIRE_")} - set(SETTINGS)) == []


def dockerfile_health_probe() -> list[str]:
    (check,) = instruction(final_stage(), "HEALTHCHECK")
    return exec_form(check[check.index("CMD ") + len("CMD ") :])


@pytest.fixture
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port, servicer
    finally:
        server.stop(None)


def run_probe(argv: list[str], port: int) -> int:
    assert argv[:2] == ["python", "-c"]
    env = {**os.environ, "MEMOIRE_GRPC_PORT": str(port)}
    result = subprocess.run(
        [sys.executable, *argv[1:]], env=env, capture_output=True, timeout=60, check=False
    )
    return result.returncode


@pytest.mark.parametrize("where", ["Dockerfile", "docker-compose.yml"])
def test_the_health_probe_passes_only_while_the_server_is_serving(where, health_server):
    if where == "Dockerfile":
        argv = dockerfile_health_probe()
    else:
        test = services()["server"]["healthcheck"]["test"]
        assert test[0] == "CMD"
        argv = test[1:]
    port, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert run_probe(argv, port) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert run_probe(argv, port) == 1


def test_the_health_probe_fails_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert run_probe(dockerfile_health_probe(), port) == 1


# --- .dockerignore --------------------------------------------------------------------------


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, pattern) in file order, with Docker's glob rules."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!")).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(regex)))
    return rules


def ignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, regex in ignore_rules():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        ".memoire/secret_key",
        ".memoire/local_api_key",
        ".venv/bin/python",
        ".git/config",
        "node_modules/@bufbuild/buf/package.json",
        "tests/unit/test_keys.py",
        "memoire_server.egg-info/PKG-INFO",
        "proto/python/src/memoire_proto.egg-info/PKG-INFO",
        "core/memoire_core/__pycache__/config.cpython-311.pyc",
        "build/lib/memoire_cli/main.py",
    ],
)
def test_the_build_context_leaves_out_secrets_and_local_state(path):
    assert ignored(path)


def test_the_build_context_holds_everything_the_dockerfile_copies():
    for stage in dockerfile_stages():
        for args in instruction(stage, "COPY"):
            words = shlex.split(args)
            if any(word.startswith("--from=") for word in words):
                continue
            for source in words[:-1]:
                path = ROOT / source
                assert path.exists(), source
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                local_state = ("__pycache__", ".egg-info", "build")
                files = [
                    file
                    for file in files
                    if not any(part.endswith(local_state) for part in file.relative_to(ROOT).parts)
                ]
                assert files, source
                for file in files:
                    relative = file.relative_to(ROOT).as_posix()
                    assert not ignored(relative), relative
