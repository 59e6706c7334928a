"""deploy/: the compose file's skyvault services run real commands with valid options, its configuration
validates, and the configuration reaches the compose file's broker and database by their service names."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml  # type: ignore[import-untyped]  # PyYAML (cfn-lint's dependency), no stubs installed

from skyvault.cli.main import COMMANDS
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
