"""Shared fixtures: a fresh database per test, a service on it, a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kaizen_tui.service import AgentService


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's database, user or colour settings."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("KAIZEN_DB", raising=False)
    monkeypatch.setenv("KAIZEN_USER", "tester")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "kaizen.db"


@pytest.fixture
def service(db_path: Path) -> Iterator[AgentService]:
    svc = AgentService(str(db_path), user="tester")
    yield svc
    svc.close()


@pytest.fixture
def agent_data() -> dict:
    return {
        "name": "Support Agent",
        "description": "Handles inquiries",
        "agent_type": "chat",
        "system_prompt": "You are helpful.\nAnswer briefly.",
        "model_id": "gpt-4",
        "temperature": 0.7,
        "max_tokens": 2048,
    }
