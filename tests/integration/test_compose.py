"""docker-compose.yaml is checked without Docker: shape by the Compose JSON schema, meaning by us.

Docker does not run on our machines or CI, so a broken mount or a wrong broker URL would only show on
an operator's cluster. These tests hold the file to what feedmon's code expects: the services of
Airflow's official layout, one shared anchor, our folders mounted, the FEEDMON_* settings, Celery on
Redis with PostgreSQL metadata, health checks, and no committed secret.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import subprocess
import sys
from datetime import date
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from feedmon import config
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
REQUIRED_SERVICES = {"postgres", "redis"} | AIRFLOW_SERVICES
LONG_RUNNING = REQUIRED_SERVICES - {"airflow-init"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY\b|ACCESS_KEY", re.IGNORECASE)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERP = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(KeyError):
    """Compose would refuse to start: a `${VAR:?message}` variable is unset."""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Render Compose's variable syntax the way `docker compose config` does (the subset we use)."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group("name"), m.group("op"), m.group("arg") or ""
        current = env.get(name)
        unset = not current if op in (":-", ":?") else current is None
        if not unset:
            return current or ""
        if op and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        return arg if op else ""

    return INTERP.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


def load_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an .env file (comments and blanks skipped, one level of quotes removed)."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, val = line.partition("=")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "\"'":
            val = val[1:-1]
        env[key.strip()] = val
    return env


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dev_env() -> dict[str, str]:
    """The environment an operator gets after `cp .env.example .env`."""
    return load_dotenv(ENV_EXAMPLE)


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "use the mapping form for environment (the anchor merges into it)"
    return {k: str(v) for k, v in env.items()}


def mounts(service: dict[str, Any], env: dict[str, str]) -> dict[PurePosixPath, Path]:
    """Container path -> host path (resolved against the project root) for every bind mount."""
    out: dict[PurePosixPath, Path] = {}
    for spec in service.get("volumes", []):
        host, _, target = interpolate(spec, env).partition(":")
        if host.startswith((".", "/")):
            out[PurePosixPath(target.split(":")[0])] = (REPO / host).resolve()
    return out


# ---- shape -------------------------------------------------------------------------------------------


def run_schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_matches_the_compose_spec() -> None:
    result = run_schema_check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    """Proves the validator above can fail: a health check with a wrong type must be refused."""
    broken = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    broken["services"]["redis"]["healthcheck"]["retries"] = "many"
    broken["services"]["airflow-worker"]["depends_on"] = 42
    bad = tmp_path / "docker-compose.yaml"
    bad.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert run_schema_check(bad).returncode != 0


# ---- services and the shared anchor ----------------------------------------------------------------------


def test_services_follow_the_official_airflow_layout(services: dict[str, Any]) -> None:
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"missing services: {sorted(missing)}"
    extra = services.keys() - REQUIRED_SERVICES
    # Anything else must be opt-in (a profile), as the official file does with airflow-cli/flower.
    assert all(services[name].get("profiles") for name in extra), sorted(extra)


def test_every_airflow_service_merges_the_common_anchor() -> None:
    """Checked on the YAML node graph: `<<: *airflow-common` must point at the one shared mapping."""
    root = yaml.compose(COMPOSE.read_text(encoding="utf-8"))
    top = {k.value: v for k, v in root.value}
    common = top["x-airflow-common"]
    assert isinstance(common, yaml.MappingNode)
    svc_nodes = {k.value: v for k, v in top["services"].value}
    for name in AIRFLOW_SERVICES:
        merges = [v for k, v in svc_nodes[name].value if k.value == "<<"]
        assert merges and merges[0] is common, f"{name} does not use <<: *airflow-common"


def test_environment_overrides_keep_the_common_environment(services: dict[str, Any]) -> None:
    """A service that redefines `environment` must merge *airflow-common-env, or it loses the executor."""
    common_keys = {"AIRFLOW__CORE__EXECUTOR", "FEEDMON_DATA_DIR", "PYTHONPATH"}
    for name in AIRFLOW_SERVICES:
        assert common_keys <= env_of(services[name]).keys(), name


def test_worker_can_be_scaled_out(services: dict[str, Any]) -> None:
    worker = services["airflow-worker"]
    assert "container_name" not in worker, "a fixed container_name blocks --scale airflow-worker=N"
    assert worker["command"] == "celery worker"
    assert "ports" not in worker


# ---- mounts and the feedmon package ----------------------------------------------------------------------


def test_dags_plugins_include_and_data_are_mounted(services: dict[str, Any], dev_env: dict[str, str]) -> None:
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        env = {**dev_env, **{k: interpolate(v, dev_env) for k, v in env_of(svc).items()}}
        m = mounts(svc, dev_env)
        assert m.get(PurePosixPath("/opt/airflow/dags")) == REPO / "dags", name
        assert m.get(PurePosixPath("/opt/airflow/plugins")) == REPO / "plugins", name
        include = PurePosixPath("/opt/airflow/include")
        assert m.get(include) == REPO / "include", name
        # `import feedmon` works because the mounted include/ is on PYTHONPATH (not pip-installed).
        assert str(include) in env["PYTHONPATH"].split(":"), name
        assert (m[include] / "feedmon" / "__init__.py").is_file()
        # A local FEEDMON_DATA_DIR must be a mounted folder, or each container writes its own copy.
        data_dir = PurePosixPath(env["FEEDMON_DATA_DIR"])
        assert any(data_dir == t or t in data_dir.parents for t in m), f"{name}: {data_dir} not mounted"


def test_default_feeds_file_is_the_one_the_code_uses(services: dict[str, Any], dev_env: dict[str, str]) -> None:
    """FEEDMON_FEEDS inside the container must be the host's include/feeds.yaml that config defaults to."""
    svc = services["airflow-worker"]
    feeds = PurePosixPath(interpolate(env_of(svc)["FEEDMON_FEEDS"], {}))
    m = mounts(svc, dev_env)
    target = next(t for t in m if t in feeds.parents)
    host_path = m[target] / feeds.relative_to(target)
    assert host_path == config.DEFAULT_FEEDS_FILE
    # config.PROJECT_ROOT is two levels above feedmon/: in the container that is /opt/airflow.
    assert target.parent == PurePosixPath("/opt/airflow")


def test_data_dir_may_point_at_object_storage(services: dict[str, Any]) -> None:
    """FEEDMON_DATA_DIR is taken from the operator's environment, so s3://bucket/prefix reaches the code."""
    raw = env_of(services["airflow-worker"])["FEEDMON_DATA_DIR"]
    rendered = interpolate(raw, {"FEEDMON_DATA_DIR": "s3://feeds-bucket/feedmon"})
    assert rendered == "s3://feeds-bucket/feedmon"
    settings = config.Settings.from_env(data_dir=rendered)
    assert settings.snapshot_path(date(2026, 11, 28)).startswith("s3://feeds-bucket/feedmon/snapshots/date=2026-11-28/")
    # The S3 credentials come from .env via env_file, not from the compose file itself.
    env_files = services["airflow-worker"].get("env_file")
    assert env_files, "airflow services need env_file so AWS_* credentials reach the workers"


def test_settings_the_code_reads_are_configurable(services: dict[str, Any]) -> None:
    """Every FEEDMON_* variable config.py reads is set in compose or documented in .env.example."""
    code = (REPO / "include" / "feedmon" / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r"""["'](FEEDMON_[A-Z0-9_]+)["']""", code))
    assert {"FEEDMON_FEEDS", "FEEDMON_DATA_DIR"} <= read
    compose_env = env_of(services["airflow-worker"]).keys()
    documented = set(re.findall(r"^#?\s*(FEEDMON_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))
    assert {"FEEDMON_FEEDS", "FEEDMON_DATA_DIR"} <= compose_env
    missing = read - compose_env - documented - set(config.FAULT_HOOK_VARIABLES)  # test-only hooks are no settings
    assert not missing, f"add to .env.example or the compose environment: {sorted(missing)}"


# ---- executor, broker, metadata ---------------------------------------------------------------------------


def test_celery_on_redis_with_postgres_metadata(services: dict[str, Any], dev_env: dict[str, str]) -> None:
    env = {k: interpolate(v, dev_env) for k, v in env_of(services["airflow-scheduler"]).items()}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"

    broker = make_url(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.drivername == "redis"
    assert broker.host == "redis" and "redis" in services

    meta = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert meta.get_backend_name() == "postgresql"
    assert meta.host == "postgres"
    meta.get_dialect().import_dbapi()  # the driver named in the URL is in our lock

    pg_env = {k: interpolate(v, dev_env) for k, v in env_of(services["postgres"]).items()}
    assert meta.username == pg_env["POSTGRES_USER"]
    assert meta.password == pg_env["POSTGRES_PASSWORD"]
    assert meta.database == pg_env["POSTGRES_DB"]

    result = env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert result.startswith("db+postgresql")
    assert make_url(result.removeprefix("db+")).host == "postgres"

    api = make_url(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api.host == "airflow-apiserver"
    container_port = services["airflow-apiserver"]["ports"][0].rsplit(":", 1)[-1].strip('"')
    assert str(api.port) == container_port


def test_the_celery_provider_finds_what_it_imports_from_celery() -> None:
    """The image installs our lock: a Celery the provider cannot import from crashes every worker.

    Seen: celery 5.7.0 removed ``celery.backends.database.retry``, which
    apache-airflow-providers-celery 3.26.0 imports (fix: ``celery<5.7`` in the lock). Checked by
    reading the provider's executor modules (fast, no Airflow import), name by name.
    """
    spec = importlib.util.find_spec("airflow.providers.celery.executors")
    assert spec and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    missing = []
    for source in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "celery":
                module = importlib.import_module(node.module)
                missing += [
                    f"{source.name}: from {node.module} import {a.name}"
                    for a in node.names
                    if not hasattr(module, a.name) and importlib.util.find_spec(f"{node.module}.{a.name}") is None
                ]
    assert not missing, f"celery {version('celery')} lacks: {missing}"


def test_every_long_running_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        hc = services[name].get("healthcheck")
        assert hc and hc.get("test"), f"{name} has no health check"
        assert hc["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_start_order_waits_for_health_and_migration(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    init_env = env_of(services["airflow-init"])
    assert init_env.get("_AIRFLOW_DB_MIGRATE") == "true"


def test_image_is_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    """The Dockerfile itself is checked by tests/unit/test_dockerfile.py."""
    build = compose["x-airflow-common"]["build"]
    assert "dockerfile_inline" not in build
    assert (REPO / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"
    env = compose["x-airflow-common"]["environment"]
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env


def test_init_creates_the_fetch_pool_after_migrating(services: dict[str, Any], dev_env: dict[str, str]) -> None:
    """The fetch tasks run in `feedmon_fetch`; without the pool the scheduler never starts them."""
    from feedmon.airflow.tasks import FETCH_POOL

    script = interpolate("\n".join(services["airflow-init"]["command"]), dev_env)
    pool = re.search(r"airflow pools set (\S+) \"?(\d+)\"?", script)
    assert pool, script
    assert pool.group(1) == FETCH_POOL and int(pool.group(2)) >= 1
    assert interpolate("${FEEDMON_FETCH_POOL_SLOTS:-8}", {"FEEDMON_FETCH_POOL_SLOTS": "3"}) == "3"
    # The entrypoint migrates on its first call (_AIRFLOW_DB_MIGRATE): the pool comes after that call.
    assert script.index("/entrypoint airflow version") < pool.start()


# ---- secrets -------------------------------------------------------------------------------------------


def test_no_secret_value_is_committed(services: dict[str, Any]) -> None:
    """Secret-looking settings are `${VAR...}` only; a default is allowed only for local-dev DB passwords."""
    for name, svc in services.items():
        for key, value in env_of(svc).items():
            if not SECRET_NAME.search(key) or key.endswith("_FILE"):
                continue
            m = INTERP.fullmatch(value)
            assert m, f"{name}.{key} is a literal; take it from the environment"
            if "JWT" in key or "FERNET" in key:
                assert not m.group("arg") or m.group("op").endswith("?"), f"{name}.{key} has a default"
            elif m.group("op") in (":-", "-"):
                assert m.group("arg") == "airflow", f"{name}.{key}: only the official local-dev default"


def test_connection_urls_take_passwords_from_the_environment(services: dict[str, Any]) -> None:
    """Rendered with marker values, the password in each URL must be the marker, not a literal."""
    env = env_of(services["airflow-scheduler"])
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        names = {m.group("name") for m in INTERP.finditer(env[key])}
        markers = {n: f"from-env-{n.lower()}" for n in names}
        url = make_url(interpolate(env[key], markers).removeprefix("db+"))
        assert url.password in markers.values(), f"{key} embeds a literal password"


def test_jwt_secret_is_required_and_shared(services: dict[str, Any], dev_env: dict[str, str]) -> None:
    """Api-server, scheduler and workers must agree on it (else: 'Invalid auth token')."""
    raw = {env_of(services[n])["AIRFLOW__API_AUTH__JWT_SECRET"] for n in AIRFLOW_SERVICES}
    assert len(raw) == 1
    (value,) = raw
    with pytest.raises(MissingVariable):
        interpolate(value, {})
    assert interpolate(value, {"AIRFLOW__API_AUTH__JWT_SECRET": "s3cr3t"}) == "s3cr3t"
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in dev_env


def test_env_example_holds_placeholders_only(dev_env: dict[str, str]) -> None:
    assert dev_env.get("AIRFLOW_UID", "").isdigit()
    for key, value in dev_env.items():
        if SECRET_NAME.search(key):
            assert value in {"", "change-me"}, f".env.example {key} must be a placeholder"
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for var in set(INTERP.findall(COMPOSE.read_text(encoding="utf-8"))):
        name, op, _ = var
        if op.endswith("?"):
            assert f"{name}=" in text, f"{name} is required by compose but not in .env.example"


def test_interpolate_follows_compose_rules() -> None:
    """The helper the other tests rely on: defaults, required variables and `$$` escapes."""
    assert interpolate("${A:-x}", {}) == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("${A}", {"A": "v"}) == "v"
    assert interpolate("$${HOSTNAME}", {"HOSTNAME": "h"}) == "${HOSTNAME}"
    with pytest.raises(MissingVariable):
        interpolate("${A:?needed}", {"A": ""})
