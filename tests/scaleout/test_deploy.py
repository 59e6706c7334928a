"""deploy/: the compose file's skyvault services run real commands with valid options, its configuration
validates, and the configuration reaches the compose file's broker and database by their service names."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]  # a dependency of the dev tools, no stubs installed
import typer
import yaml  # type: ignore[import-untyped]  # PyYAML (cfn-lint's dependency), no stubs installed

from skyvault.cli.main import COMMANDS, app
from skyvault.cli.worker import parse_queues
from skyvault.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_compose_services_run_skyvault_commands() -> None:
    services = _compose()["services"]
    skyvault = {name: s for name, s in services.items() if s.get("image") == "skyvault:local"}
    assert {"migrate", "scheduler", "worker-us-east-1", "worker-eu-west-1"} <= set(skyvault)
    for name, service in skyvault.items():
        command = service["command"]
        assert command[0] in COMMANDS, f"{name}: skyvault has no command {command[0]!r}"
        assert service["environment"]["SKYVAULT_CONFIG"] == "/etc/skyvault/skyvault.toml"
        if command[0] == "worker":
            queues = parse_queues(command[command.index("--queues") + 1])
            assert name == f"worker-{queues[0]}"
    assert skyvault["migrate"]["command"] == ["catalog", "upgrade"]
    for name in ("scheduler", "worker-us-east-1", "worker-eu-west-1"):  # nothing runs on an old schema
        assert skyvault[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_deploy_config_validates_and_names_the_compose_services() -> None:
    config = load_config(DEPLOY / "skyvault.toml")
    services = _compose()["services"]
    assert config.workers is not None and config.catalog_url is not None
    assert urlsplit(config.workers.broker_url).hostname in services
    assert urlsplit(config.catalog_url).hostname in services
    assert config.rate_limit_redis_url == config.workers.broker_url
    regions = {r for account in config.accounts.values() for r in account.regions}
    workers = {n.removeprefix("worker-") for n in services if n.startswith("worker-")}
    assert workers == regions  # one worker service per region the accounts back up


# The Compose Specification's JSON schema, vendored from github.com/compose-spec/compose-spec (schema/
# compose-spec.json at 170098ba07d9f53c383a41bfd4c5166b0a4529a6, Apache-2.0): `docker compose` validates a file
# against it before anything starts. No Docker daemon runs here, so this is the check `docker compose config` does.
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"


def test_the_compose_file_follows_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(_compose())]
    assert errors == []


def test_a_compose_file_with_a_typo_fails_the_schema() -> None:
    broken = _compose()
    broken["services"]["scheduler"]["depends_on"]["migrate"]["condition"] = "service_finished"
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    assert list(validator.iter_errors(broken))


def test_each_skyvault_service_command_parses_with_the_cli() -> None:
    """Options and values, not only the command's name: a renamed option would fail the container at start."""
    group = typer.main.get_command(app)
    services = _compose()["services"]
    for name, service in services.items():
        if service.get("image") != "skyvault:local":
            continue
        args = list(service["command"])
        # typer vendors its own click: walk its groups by what they do, not by click's classes.
        context = group.context_class(group, info_name="skyvault")
        command: Any = group
        rest = args
        while hasattr(command, "get_command"):  # `catalog upgrade`, `schedule run`: walk to the leaf command
            command_name, rest = rest[0], rest[1:]
            command = command.get_command(context, command_name)
            assert command is not None, f"{name}: skyvault has no command {args}"
            if hasattr(command, "get_command"):
                context = command.context_class(command, info_name=command_name, parent=context)
        command.make_context(args[0], list(rest), parent=context, resilient_parsing=False)  # raises on a bad option


def test_the_dockerfile_installs_extras_that_exist() -> None:
    extras = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = re.findall(r"'\.\[([a-z,]+)\]'", (DEPLOY / "Dockerfile").read_text())
    assert wanted and all(extra in extras for group in wanted for extra in group.split(","))
