"""Project-level checks: the docs name every command, the deployment file is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from trialwatch.cli import app

ROOT = Path(__file__).parents[1]


def _command_paths() -> list[str]:
    root = get_command(app)
    assert hasattr(root, "commands")
    paths = []
    for name, command in sorted(root.commands.items()):
        if hasattr(command, "commands"):
            paths.extend(f"{name} {sub}" for sub in sorted(command.commands))
        else:
            paths.append(name)
    return paths


@pytest.mark.parametrize("path", _command_paths())
def test_every_command_has_help_and_is_in_the_readme(path: str) -> None:
    """Each command explains itself with --help and appears in README.md."""
    runner = CliRunner()
    result = runner.invoke(app, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert f"trialwatch {path}" in (ROOT / "README.md").read_text()


def test_docker_compose_is_valid_and_wires_postgres() -> None:
    """The compose file parses; the scheduler runs after init, against the db service."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "init", "scheduler"}
    assert services["scheduler"]["command"] == ["run"]
    assert services["init"]["command"] == ["init"]
    url = services["scheduler"]["environment"]["TRIALWATCH_DATABASE_URL"]
    assert url.startswith("postgresql://")
    assert "@db:5432/" in url
    assert services["scheduler"]["depends_on"]["init"]["condition"] == (
        "service_completed_successfully"
    )
    assert "pgdata" in compose["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["trialwatch"]' in dockerfile


def test_example_env_lists_every_setting() -> None:
    """config/example.env names every TRIALWATCH_* setting."""
    from trialwatch.config import Settings

    text = (ROOT / "config" / "example.env").read_text()
    for name in Settings.model_fields:
        if name != "config_file":
            assert f"TRIALWATCH_{name.upper()}=" in text, name


def test_the_sync_benchmark_uses_the_default_page_size() -> None:
    """bench/sync.py measures what users run: the default TRIALWATCH_PAGE_SIZE."""
    from trialwatch.config import Settings

    match = re.search(r"^DEFAULT_PAGE_SIZE = (\d+)", (ROOT / "bench" / "sync.py").read_text(), re.M)
    assert match is not None
    assert int(match.group(1)) == Settings.model_fields["page_size"].default
