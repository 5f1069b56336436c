"""``doover-anyio demo`` through the installed console script, and the command tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cli_support import SCRIPT, cli, cli_env


def test_demo_walks_through_every_step(tmp_path: Path) -> None:
    if not SCRIPT.exists():  # pragma: no cover - the editable install makes it
        pytest.skip("the doover-anyio console script is not installed")
    result = subprocess.run(
        [str(SCRIPT), "demo", "--messages", "600", "--latency", "0", "--invoxia-latency", "0"],
        capture_output=True, text=True, env=cli_env(tmp_path), timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. Ingest 600 messages into 'pump_log' with client.ingest()" in out
    assert "600 of 600 items stored in " in out
    assert "iter_messages(page_size=1000): 600 messages" in out
    assert "ChannelSync" in out
    assert out.count("MessageCreate") == 3
    assert 'AggregateUpdate  {"mode":"eco"}' in out
    assert " 1 page(s) in flight: 1,000 locations (1,000 distinct)" in out
    assert "16 page(s) in flight: 1,000 locations (1,000 distinct)" in out
    assert "\nSummary\n" in out
    assert "Ingesting" in result.stderr  # the progress bar's last frame
    assert "Traceback" not in result.stderr


def test_help_lists_the_command_tree(tmp_path: Path) -> None:
    result = cli("--help", home=tmp_path)
    assert result.returncode == 0
    for command in ("demo", "channels", "messages", "aggregate", "ingest", "locations"):
        assert f"  {command} " in result.stdout
    for variable in ("DOOVER_TOKEN", "DOOVER_PROFILE", "DOOVER_BASE_URL", "DOOVER_AGENT_ID"):
        assert variable in result.stdout
    unknown = cli("messages", "grep", home=tmp_path)
    assert unknown.returncode == 2
    assert "No such command 'grep'" in unknown.stderr
