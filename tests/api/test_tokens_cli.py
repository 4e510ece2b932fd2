"""``kaizen-tui token create | list | revoke``: the secret is shown once, works, and is stored only as a hash.

The commands run in-process on the test database; the API they are checked
against is ``asgi_app`` on a service open on the same file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kaizen_tui.service import AgentService
from tests.api.conftest import assert_problem, bearer
from tests.support import Runner, cli_runner, database_rows


@pytest.fixture
def kz(capsys: pytest.CaptureFixture[str], db_path: Path) -> Runner:
    """Run ``kaizen-tui --db <test database> ARGS...`` in-process."""
    return cli_runner(capsys, db_path)


def create(kz: Runner, name: str, role: str) -> dict[str, str]:
    result = kz("token", "create", name, "--role", role, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def database_bytes(db_path: Path) -> bytes:
    """Every byte of the database: the file and its write-ahead log; on PostgreSQL, every row."""
    if str(db_path).startswith("postgresql://"):
        return repr(database_rows(db_path)).encode()
    return b"".join(path.read_bytes() for path in sorted(db_path.parent.glob(db_path.name + "*")))


def test_token_create_json_prints_the_name_role_and_secret(kz: Runner) -> None:
    token = create(kz, "ci-bot", "write")
    assert set(token) == {"name", "role", "token"}
    assert token["name"] == "ci-bot" and token["role"] == "write"
    assert token["token"].startswith("kz_") and len(token["token"]) > 30


def test_each_token_gets_its_own_secret(kz: Runner) -> None:
    assert create(kz, "one", "read")["token"] != create(kz, "two", "read")["token"]


def test_a_created_token_works_against_the_api_with_its_role(kz: Runner, client: TestClient) -> None:
    writer = create(kz, "ci-bot", "write")
    reader = create(kz, "dashboard", "read")
    created = client.post("/api/v1/agents", json={"name": "A", "model_id": "m"}, headers=bearer(writer["token"]))
    assert created.status_code == 201
    assert created.json()["created_by"] == "ci-bot"
    assert client.get("/api/v1/agents/A", headers=bearer(reader["token"])).status_code == 200
    refused = client.patch("/api/v1/agents/A", json={"temperature": 0.1}, headers=bearer(reader["token"]))
    assert_problem(refused, 403, "forbidden")


def test_the_default_role_is_read(kz: Runner, client: TestClient) -> None:
    result = kz("token", "create", "viewer", "--json")
    assert result.code == 0
    token = json.loads(result.out)
    assert token["role"] == "read"
    assert client.get("/api/v1/agents", headers=bearer(token["token"])).status_code == 200
    assert_problem(
        client.post("/api/v1/agents", json={"name": "A", "model_id": "m"}, headers=bearer(token["token"])),
        403,
        "forbidden",
    )


def test_token_create_without_json_shows_the_secret_once_with_how_to_send_it(kz: Runner) -> None:
    result = kz("token", "create", "ci-bot", "--role", "admin")
    assert result.code == 0
    secret = next(word for word in result.out.split() if word.startswith("kz_"))
    assert result.out.count(secret) == 1
    assert "Authorization: Bearer" in result.out


def test_token_list_json_never_shows_a_secret_or_its_hash(kz: Runner) -> None:
    secrets = [create(kz, name, role)["token"] for name, role in (("ci-bot", "write"), ("boss", "admin"))]
    result = kz("token", "list", "--json")
    assert result.code == 0
    listed = json.loads(result.out)
    assert sorted((entry["name"], entry["role"]) for entry in listed) == [("boss", "admin"), ("ci-bot", "write")]
    assert all(set(entry) == {"name", "role", "created_by", "created_at"} for entry in listed)
    for secret in secrets:
        assert secret not in result.out
        assert hashlib.sha256(secret.encode()).hexdigest() not in result.out
    assert "kz_" not in result.out
    table = kz("token", "list")
    assert table.code == 0 and "ci-bot" in table.out
    assert all(secret not in table.out for secret in secrets)


def test_token_list_when_there_are_none(kz: Runner, service: AgentService) -> None:
    assert json.loads(kz("token", "list", "--json").out) == []
    assert "token create" in kz("token", "list").out


def test_a_revoked_token_is_refused_by_the_api(kz: Runner, client: TestClient) -> None:
    token = create(kz, "ci-bot", "write")
    headers = bearer(token["token"])
    assert client.get("/api/v1/agents", headers=headers).status_code == 200
    result = kz("token", "revoke", "ci-bot")
    assert result.code == 0
    assert "ci-bot" in result.out
    response = client.get("/api/v1/agents", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert json.loads(kz("token", "list", "--json").out) == []


def test_revoking_an_unknown_token_fails_with_one_line(kz: Runner, service: AgentService) -> None:
    result = kz("token", "revoke", "nobody")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "nobody" in result.err and "Traceback" not in result.err


def test_a_token_name_is_unique(kz: Runner) -> None:
    create(kz, "ci-bot", "write")
    result = kz("token", "create", "ci-bot", "--role", "admin", "--json")
    assert result.code == 1
    assert "ci-bot" in result.err


@pytest.mark.parametrize("name", ["", "has space", "-leading-dash", "x" * 65, "slash/name"])
def test_a_token_name_that_cannot_be_an_actor_is_refused(kz: Runner, name: str) -> None:
    result = kz("token", "create", name, "--json")
    assert result.code != 0
    assert result.out == ""


def test_an_unknown_role_is_a_usage_error(kz: Runner) -> None:
    assert kz("token", "create", "ci-bot", "--role", "root").code == 2


def test_the_database_holds_the_secret_only_as_a_hash(kz: Runner, db_path: Path) -> None:
    secret = create(kz, "ci-bot", "admin")["token"]
    stored = database_bytes(db_path)
    assert secret.encode() not in stored
    assert secret.removeprefix("kz_").encode() not in stored
    # What is stored is the SHA-256 of the secret: the file read is the one the token lives in.
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored
