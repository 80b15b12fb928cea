"""config.py: defaults, TOML, environment overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError


def test_defaults_work_from_a_fresh_checkout(tmp_path: Path) -> None:
    settings = load_settings(env={}, base=tmp_path)
    assert settings.archive_dir == tmp_path / "archive"
    assert settings.sources_file == tmp_path / "sources.yaml"
    assert "Clausewatch" in settings.fetch.user_agent and "+http" in settings.fetch.user_agent
    assert settings.fetch.max_bytes == 10 * 1024 * 1024


def test_toml_then_environment(tmp_path: Path) -> None:
    (tmp_path / "clausewatch.toml").write_text(
        'archive_dir = "/srv/cw"\nworkers = 3\n[fetch]\nhost_delay = 9.5\nuser_agent = "Bot/1 (+https://e.org)"\n'
    )
    settings = load_settings(
        env={"CLAUSEWATCH_WORKERS": "5", "CLAUSEWATCH_RESPECT_ROBOTS": "no"}, base=tmp_path
    )
    assert settings.archive_dir == Path("/srv/cw") and settings.workers == 5
    assert (
        settings.fetch.host_delay == 9.5 and settings.fetch.user_agent == "Bot/1 (+https://e.org)"
    )
    assert settings.fetch.respect_robots is False
    assert (
        load_settings(env={"CLAUSEWATCH_ARCHIVE": "a2"}, base=tmp_path).archive_dir
        == tmp_path / "a2"
    )


def test_unknown_and_bad_settings_say_where(tmp_path: Path) -> None:
    (tmp_path / "clausewatch.toml").write_text("wokers = 3\n")
    with pytest.raises(
        ConfigError,
        match=r"clausewatch.toml:1: unknown setting 'wokers' \(did you mean 'workers'\?\)",
    ):
        load_settings(env={}, base=tmp_path)
    (tmp_path / "clausewatch.toml").write_text("workers = 'many'\n")
    with pytest.raises(ConfigError, match="'workers' must be a whole number"):
        load_settings(env={}, base=tmp_path)
    (tmp_path / "clausewatch.toml").write_text("workers = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, base=tmp_path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(env={"CLAUSEWATCH_CONFIG": str(tmp_path / "missing.toml")}, base=tmp_path)


def test_rule_paths_and_the_total_deadline(tmp_path: Path) -> None:
    (tmp_path / "clausewatch.toml").write_text(
        'rules = ["mine.yaml", "/etc/cw/more.yaml"]\n[fetch]\ntotal_timeout = 45\n'
    )
    settings = load_settings(env={}, base=tmp_path)
    assert settings.rules == (tmp_path / "mine.yaml", Path("/etc/cw/more.yaml"))
    assert settings.fetch.total_timeout == 45
    from_env = load_settings(env={"CLAUSEWATCH_RULES": "a.yaml:b.yaml"}, base=tmp_path)
    assert from_env.rules == (tmp_path / "a.yaml", tmp_path / "b.yaml")
    (tmp_path / "clausewatch.toml").write_text("rules = [1]\n")
    with pytest.raises(ConfigError, match="'rules' must be a list of paths"):
        load_settings(env={}, base=tmp_path)
    (tmp_path / "clausewatch.toml").write_text("[fetch]\ntotal_timeout = 0\n")
    with pytest.raises(ConfigError, match="'total_timeout' must be a number above 0"):
        load_settings(env={}, base=tmp_path)
