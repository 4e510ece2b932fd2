"""Every error status of the API: a problem+json with its code, never a traceback; roles; the request log.

Statuses: 400 malformed JSON, 401 no or bad token, 403 role too low, 404
agent / version / route, 405, 409 conflicts, 412 stale ``If-Match``, 413
body over the limit, 422 a bad value naming the field, 503 a busy database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kaizen_tui.api.app import MAX_BODY_BYTES, asgi_app
from kaizen_tui.service import AgentService
from tests.api.conftest import TOKEN_NAMES, Tokens, assert_problem, bearer, nothing_written
from tests.support import holding_the_write_lock, impatient_writers, write_raw_snapshot

AGENT = "/api/v1/agents/Support Agent"


def every_protected_request(agent_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, JSON body) of every endpoint that needs a token, on one agent and its version 1."""
    base = f"/api/v1/agents/{agent_id}"
    return [
        ("GET", "/api/v1/agents", None),
        ("POST", "/api/v1/agents", {"name": "Other", "model_id": "m"}),
        ("GET", base, None),
        ("PATCH", base, {"temperature": 0.1}),
        ("DELETE", base, None),
        ("GET", f"{base}/config", None),
        ("POST", f"{base}/versions", {"changelog": "x"}),
        ("GET", f"{base}/versions", None),
        ("POST", f"{base}/versions/prune", {"keep": 1}),
        ("GET", f"{base}/versions/1", None),
        ("DELETE", f"{base}/versions/1", None),
        ("POST", f"{base}/versions/1/rollback", None),
        ("GET", f"{base}/versions/1/compare/live", None),
        ("GET", "/api/v1/audit", None),
    ]


def needed_role(method: str, path: str) -> str:
    """The least role a request of ``every_protected_request`` needs."""
    if method == "GET":
        return "read"
    if method == "DELETE" and "/versions/" not in path:
        return "admin"
    return "write"


@pytest.fixture
def versioned(writer: TestClient, agent: dict[str, Any]) -> dict[str, Any]:
    """Support Agent with version 1, then a live change (revision 2, unsaved)."""
    assert writer.post(f"/api/v1/agents/{agent['id']}/versions", json={"changelog": "v1"}).status_code == 201
    response = writer.patch(f"/api/v1/agents/{agent['id']}", json={"temperature": 1.5})
    assert response.status_code == 200
    return response.json()


# -- 401 ---------------------------------------------------------------------------------


def test_every_endpoint_but_healthz_refuses_a_request_without_a_token(
    client: TestClient, service: AgentService, versioned: dict[str, Any]
) -> None:
    client.headers.pop("Authorization")
    with nothing_written(service):
        for method, path, body in every_protected_request(versioned["id"]):
            response = client.request(method, path, json=body)
            problem = assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer", (method, path)
            assert "Bearer" in problem["detail"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer kz_not-a-token",
        "Bearer not-even-the-prefix",
        "Bearer",
        "Bearer ",
        "Basic Y2ktYm90OnNlY3JldA==",
        "Token kz_not-a-token",
        "",
    ],
    ids=["unknown", "no-prefix", "no-secret", "blank-secret", "basic", "other-scheme", "empty"],
)
def test_an_invalid_authorization_is_401_with_www_authenticate(
    client: TestClient, service: AgentService, tokens: Tokens, authorization: str
) -> None:
    with nothing_written(service):
        response = client.post(
            "/api/v1/agents", json={"name": "X", "model_id": "m"}, headers={"Authorization": authorization}
        )
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_secret_of_another_token_with_a_letter_changed_is_refused(client: TestClient, tokens: Tokens) -> None:
    secret = tokens.secrets["admin"]
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert_problem(client.get("/api/v1/agents", headers=bearer(forged)), 401, "unauthorized")


def test_the_bearer_scheme_is_case_insensitive(client: TestClient, tokens: Tokens) -> None:
    response = client.get("/api/v1/agents", headers={"Authorization": f"bearer {tokens.secrets['read']}"})
    assert response.status_code == 200


def test_a_request_without_a_token_learns_nothing_about_what_exists(client: TestClient, tokens: Tokens) -> None:
    """401 before 404: whether an agent exists is not told to a stranger."""
    assert_problem(client.get("/api/v1/agents/no-such-agent"), 401, "unauthorized")
    assert_problem(client.get("/api/v1/agents/no-such-agent/config"), 401, "unauthorized")


def test_a_revoked_token_is_refused(client: TestClient, service: AgentService, tokens: Tokens) -> None:
    headers = tokens.header("write")
    assert client.get("/api/v1/agents", headers=headers).status_code == 200
    service.revoke_token(TOKEN_NAMES["write"])
    assert_problem(client.get("/api/v1/agents", headers=headers), 401, "unauthorized")
    assert client.get("/api/v1/agents", headers=tokens.header("read")).status_code == 200


def test_a_token_made_while_the_server_runs_works_at_once(client: TestClient, service: AgentService) -> None:
    secret = service.create_token("late-bot", "read")["token"]
    assert client.get("/api/v1/agents", headers=bearer(secret)).status_code == 200


# -- 403 and the roles ----------------------------------------------------------------


def test_a_read_token_reads_but_changes_nothing(
    client: TestClient, service: AgentService, tokens: Tokens, versioned: dict[str, Any]
) -> None:
    headers = tokens.header("read")
    with nothing_written(service):
        for method, path, body in every_protected_request(versioned["id"]):
            response = client.request(method, path, json=body, headers=headers)
            if needed_role(method, path) == "read":
                assert response.status_code == 200, (method, path, response.text)
            else:
                problem = assert_problem(response, 403, "forbidden")
                assert "read" in problem["detail"] and TOKEN_NAMES["read"] in problem["detail"], problem


def test_a_write_token_may_not_delete_an_agent(
    client: TestClient, service: AgentService, tokens: Tokens, versioned: dict[str, Any]
) -> None:
    assert client.patch(f"/api/v1/agents/{versioned['id']}", json={"status": "archived"}).status_code == 200
    with nothing_written(service):
        problem = assert_problem(client.delete(f"/api/v1/agents/{versioned['id']}"), 403, "forbidden")
    assert "admin" in problem["detail"]
    assert client.get(f"/api/v1/agents/{versioned['id']}").status_code == 200


def test_an_admin_token_does_what_a_write_token_does(client: TestClient, tokens: Tokens, agent: dict[str, Any]) -> None:
    headers = tokens.header("admin")
    created = client.post(f"/api/v1/agents/{agent['id']}/versions", json={"changelog": "by admin"}, headers=headers)
    assert created.status_code == 201
    assert created.json()["created_by"] == TOKEN_NAMES["admin"]
    patched = client.patch(f"/api/v1/agents/{agent['id']}", json={"temperature": 0.5}, headers=headers)
    assert patched.status_code == 200
    assert client.get("/api/v1/audit", headers=headers).json()[0]["actor"] == TOKEN_NAMES["admin"]


# -- 400 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", None, "text/plain"], ids=["json", "none", "text"])
def test_malformed_json_is_400_on_every_endpoint_with_a_body(
    writer: TestClient, service: AgentService, agent: dict[str, Any], content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    base = f"/api/v1/agents/{agent['id']}"
    with nothing_written(service):
        for method, path in [
            ("POST", "/api/v1/agents"),
            ("PATCH", base),
            ("POST", f"{base}/versions"),
            ("POST", f"{base}/versions/prune"),
        ]:
            for body in (b'{"changelog": ', b"{bad json}", b"\xff\xfe\x00", b"changelog=x"):
                response = writer.request(method, path, content=body, headers=headers)
                assert_problem(response, 400, "malformed_json")


# -- 404 ---------------------------------------------------------------------------------


def test_an_unknown_agent_is_404_everywhere(client: TestClient, service: AgentService, tokens: Tokens) -> None:
    client.headers.update(tokens.header("admin"))
    with nothing_written(service):
        for method, path, body in every_protected_request("agt-nope"):
            if "agt-nope" not in path:
                continue
            problem = assert_problem(client.request(method, path, json=body), 404, "agent_not_found")
            assert "agt-nope" in problem["detail"]
        assert_problem(client.get("/api/v1/audit", params={"agent_id": "agt-nope"}), 404, "agent_not_found")


def test_an_unknown_version_is_404_by_number_and_by_id(
    writer: TestClient, service: AgentService, versioned: dict[str, Any]
) -> None:
    base = f"/api/v1/agents/{versioned['id']}/versions"
    with nothing_written(service):
        for ref in ("7", "v7", "ver-nope"):
            for method, path in [
                ("GET", f"{base}/{ref}"),
                ("DELETE", f"{base}/{ref}"),
                ("POST", f"{base}/{ref}/rollback"),
                ("GET", f"{base}/{ref}/compare/live"),
                ("GET", f"{base}/1/compare/{ref}"),
            ]:
                assert_problem(writer.request(method, path), 404, "version_not_found")


def test_a_version_of_another_agent_is_404(
    writer: TestClient, service: AgentService, versioned: dict[str, Any]
) -> None:
    other = writer.post("/api/v1/agents", json={"name": "Billing Bot", "model_id": "m"}).json()
    theirs = writer.post(f"/api/v1/agents/{other['id']}/versions").json()
    with nothing_written(service):
        for method, tail in [("GET", ""), ("DELETE", ""), ("POST", "/rollback")]:
            path = f"/api/v1/agents/{versioned['id']}/versions/{theirs['id']}{tail}"
            assert_problem(writer.request(method, path), 404, "version_of_another_agent")


def test_an_unknown_route_is_a_404_problem(writer: TestClient) -> None:
    for path in ("/nope", "/api/v1", "/api/v2/agents", "/api/v1/agents/x/y/z/w"):
        assert_problem(writer.get(path), 404, "not_found")


# -- 405 ---------------------------------------------------------------------------------


def test_a_method_a_route_does_not_take_is_a_405_problem(writer: TestClient, agent: dict[str, Any]) -> None:
    for method, path in [
        ("PUT", f"/api/v1/agents/{agent['id']}"),
        ("DELETE", "/api/v1/agents"),
        ("PUT", f"/api/v1/agents/{agent['id']}/config"),
        ("GET", f"/api/v1/agents/{agent['id']}/versions/1/rollback"),
        ("POST", "/healthz"),
    ]:
        response = writer.request(method, path)
        assert_problem(response, 405, "method_not_allowed")
        assert "allow" in response.headers, (method, path)


def test_405_allow_lists_every_method_the_resource_takes(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.put(f"/api/v1/agents/{agent['id']}")
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed


def sample_path(template: str) -> str:
    """A path of the OpenAPI document with its parameters filled in (an agent, a version, a label)."""
    values = {"agent": "Support Agent", "version": "1", "old": "1", "new": "live", "label": "production"}
    return re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], template)


def allowed(response: Any) -> set[str]:
    return {method.strip() for method in response.headers["allow"].split(",")}


def test_options_allows_exactly_the_methods_the_openapi_document_lists_for_the_path(
    writer: TestClient, agent: dict[str, Any]
) -> None:
    """Where a fixed path (…/versions/prune, …/labels/history) overlaps a parameter route, only its own methods."""
    document = writer.get("/openapi.json").json()
    for template, operations in document["paths"].items():
        response = writer.options(sample_path(template))
        assert response.status_code == 204, template
        assert response.content == b""
        expected = {method.upper() for method in operations} | {"OPTIONS"}
        assert allowed(response) - {"HEAD"} == expected, template
    base = f"/api/v1/agents/{agent['id']}"
    assert allowed(writer.options(f"{base}/versions/prune")) == {"POST", "OPTIONS"}
    assert allowed(writer.options(f"{base}/labels/history")) == {"GET", "OPTIONS"}


def test_options_needs_no_token_and_names_nothing_for_a_path_that_is_no_resource(
    client: TestClient, agent: dict[str, Any]
) -> None:
    assert client.options(f"/api/v1/agents/{agent['id']}").status_code == 204
    assert_problem(client.options("/api/v1/nope"), 404, "not_found")
    assert_problem(client.get("/api/v1/nope"), 404, "not_found")


def test_a_method_only_an_overlapping_parameter_route_takes_is_405_at_the_fixed_path(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    """GET …/versions/prune used to look up a version named "prune"; PUT …/labels/history a label "history"."""
    base = f"/api/v1/agents/{agent['id']}"
    with nothing_written(service):
        for method, path, allow in [
            ("GET", f"{base}/versions/prune", {"POST", "OPTIONS"}),
            ("DELETE", f"{base}/versions/prune", {"POST", "OPTIONS"}),
            ("PUT", f"{base}/labels/history", {"GET", "OPTIONS"}),
            ("DELETE", f"{base}/labels/history", {"GET", "OPTIONS"}),
        ]:
            response = writer.request(method, path, json={"version": 1})
            assert_problem(response, 405, "method_not_allowed")
            assert allowed(response) == allow, (method, path)
    assert writer.get(f"{base}/labels/history").status_code == 200


# -- 409 ---------------------------------------------------------------------------------


def test_creating_an_agent_with_a_taken_name_is_409(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    with nothing_written(service):
        for name in ("Support Agent", "support agent", "SUPPORT AGENT"):
            problem = assert_problem(
                writer.post("/api/v1/agents", json={"name": name, "model_id": "m"}), 409, "name_taken"
            )
            assert agent["id"] in problem["detail"]


def test_renaming_an_agent_to_a_taken_name_is_409(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    other = writer.post("/api/v1/agents", json={"name": "Billing Bot", "model_id": "m"}).json()
    with nothing_written(service):
        response = writer.patch(f"/api/v1/agents/{other['id']}", json={"name": "support agent"})
        assert_problem(response, 409, "name_taken")


def test_a_stale_prune_plan_is_409_conflict_and_nothing_is_deleted(
    writer: TestClient, service: AgentService, versioned: dict[str, Any]
) -> None:
    with nothing_written(service):
        response = writer.post(f"{AGENT}/versions/prune", json={"keep": 1, "plan_id": "an old plan"})
        problem = assert_problem(response, 409, "conflict")
    assert "Nothing was deleted" in problem["detail"]
    assert problem["fresh"]["keep"] == 1


def test_deleting_an_agent_that_is_not_archived_is_409(
    writer: TestClient, service: AgentService, tokens: Tokens, agent: dict[str, Any]
) -> None:
    with nothing_written(service):
        response = writer.delete(f"/api/v1/agents/{agent['id']}", headers=tokens.header("admin"))
        problem = assert_problem(response, 409, "agent_not_archived")
    assert "archived" in problem["detail"]


def test_rolling_back_to_a_damaged_snapshot_is_409_and_changes_nothing(
    writer: TestClient, service: AgentService, db_path: Path, versioned: dict[str, Any]
) -> None:
    write_raw_snapshot(db_path, (versioned["id"], 1))
    with nothing_written(service):
        problem = assert_problem(writer.post(f"{AGENT}/versions/1/rollback"), 409, "damaged_snapshot")
    assert "v1" in problem["detail"]
    # The damaged text is still served as it is stored, and a comparison says what is wrong.
    assert writer.get(f"{AGENT}/versions/1").json()["config_snapshot"] == '{"name": "broken"'
    compared = writer.get(f"{AGENT}/versions/1/compare/live").json()
    assert compared["from"]["damaged"] and compared["warnings"]


# -- 412 ---------------------------------------------------------------------------------


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    writer: TestClient, service: AgentService, versioned: dict[str, Any]
) -> None:
    with nothing_written(service):
        for tag in ('"1"', '"0", "1"'):
            response = writer.patch(AGENT, json={"temperature": 0.0}, headers={"If-Match": tag})
            problem = assert_problem(response, 412, "precondition_failed")
            assert problem["current_revision"] == 2
            assert response.headers["etag"] == '"2"'
            assert TOKEN_NAMES["write"] in problem["detail"]  # who changed it since
    assert writer.get(AGENT).json()["temperature"] == 1.5


def test_rollback_with_a_stale_if_match_is_412_and_saves_and_changes_nothing(
    writer: TestClient, service: AgentService, versioned: dict[str, Any]
) -> None:
    """The live config is unsaved: a rollback would save it first; a stale one does not even that."""
    with nothing_written(service):
        response = writer.post(f"{AGENT}/versions/1/rollback", headers={"If-Match": '"1"'})
        problem = assert_problem(response, 412, "precondition_failed")
    assert problem["current_revision"] == 2
    assert response.headers["etag"] == '"2"'


def test_deleting_an_agent_with_a_stale_if_match_is_412(
    writer: TestClient, service: AgentService, tokens: Tokens, versioned: dict[str, Any]
) -> None:
    writer.patch(AGENT, json={"status": "archived"})
    with nothing_written(service):
        response = writer.delete(AGENT, headers={**tokens.header("admin"), "If-Match": '"2"'})
        assert_problem(response, 412, "precondition_failed")


def test_an_if_match_that_is_no_revision_is_412(
    writer: TestClient, service: AgentService, versioned: dict[str, Any]
) -> None:
    config_tag = writer.get(f"{AGENT}/config").headers["etag"]
    with nothing_written(service):
        for tag in (config_tag, '"abc"', '"-3"'):
            assert_problem(
                writer.patch(AGENT, json={"temperature": 0.0}, headers={"If-Match": tag}), 412, "precondition_failed"
            )
            assert_problem(
                writer.post(f"{AGENT}/versions/1/rollback", headers={"If-Match": tag}), 412, "precondition_failed"
            )


def test_a_weak_tag_never_matches_if_match_and_the_412_says_so(
    writer: TestClient, service: AgentService, tokens: Tokens, versioned: dict[str, Any]
) -> None:
    """W/"2" names the current revision, but If-Match compares strongly (RFC 9110): it never matches."""
    writer.patch(AGENT, json={"status": "archived"})  # revision 3
    with nothing_written(service):
        for method, path, extra in [
            ("PATCH", AGENT, {"json": {"temperature": 0.0}}),
            ("POST", f"{AGENT}/versions/1/rollback", {}),
            ("DELETE", AGENT, {"headers": tokens.header("admin")}),
        ]:
            headers = {**extra.pop("headers", {}), "If-Match": 'W/"3"'}
            response = writer.request(method, path, headers=headers, **extra)
            problem = assert_problem(response, 412, "precondition_failed")
            assert "weak" in problem["detail"] and "strong" in problem["detail"], problem["detail"]
            assert "no revision" not in problem["detail"]
            assert problem["current_revision"] == 3 and response.headers["etag"] == '"3"'


def test_if_match_matches_when_any_of_its_strong_tags_names_the_revision(
    writer: TestClient, versioned: dict[str, Any]
) -> None:
    for tags in ('W/"2", "2"', '"0", "1", "2"', '"2", "9"'):
        revision = writer.get(AGENT).json()["revision"]
        tags = tags.replace('"2"', f'"{revision}"')
        response = writer.patch(AGENT, json={"max_tokens": revision}, headers={"If-Match": tags})
        assert response.status_code == 200, (tags, response.text)


# -- the API's words -----------------------------------------------------------------------

#: A command-line flag or command in a sentence: the API's errors name its own parameters instead.
TERMINAL_WORDS = re.compile(r"(?<![\w-])--[a-z]|kaizen-tui [a-z]")


def test_errors_over_http_name_no_command_line_flag_or_command(
    writer: TestClient, service: AgentService, tokens: Tokens, tmp_path: Path, agent: dict[str, Any]
) -> None:
    base = f"/api/v1/agents/{agent['id']}"
    for _ in range(2):
        assert writer.post(f"{base}/versions", json={}).status_code == 201
    assert writer.put(f"{base}/labels/production", json={"version": 1}).status_code == 200
    assert writer.put("/api/v1/labels/protected/production", headers=tokens.header("admin")).status_code == 200
    (tmp_path / "taken.jsonl").write_text("")
    app = asgi_app(service, token_cache_seconds=0, archive_dir=tmp_path)
    with TestClient(app, raise_server_exceptions=False, headers=tokens.header("admin")) as admin:
        problems = [
            (writer.get(f"{base}/config", params={"at": "2026-11-01"}), 422, "invalid_value", "label"),
            (writer.put(f"{base}/labels/production", json={"version": 2}), 403, "protected_label", "admin token"),
            (writer.delete(f"{base}/versions/1"), 409, "version_labelled", "/labels/production"),
            (admin.post(f"{base}/versions/prune", json={"keep": 1, "archive": "taken.jsonl"}), 409,
             "archive_exists", "taken.jsonl"),
        ]  # fmt: skip
        for response, status, code, fragment in problems:
            detail = assert_problem(response, status, code)["detail"]
            assert not TERMINAL_WORDS.search(detail), detail
            assert fragment in detail, detail


# -- 413 ---------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_before_it_is_read(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    body = b'{"changelog": "' + b"x" * MAX_BODY_BYTES + b'"}'
    with nothing_written(service):
        for method, path in [("POST", f"{AGENT}/versions"), ("POST", "/api/v1/agents"), ("PATCH", AGENT)]:
            response = writer.request(method, path, content=body, headers={"Content-Type": "application/json"})
            problem = assert_problem(response, 413, "body_too_large")
            assert f"{MAX_BODY_BYTES:,}" in problem["detail"]


def test_a_body_just_under_the_limit_is_accepted(writer: TestClient, agent: dict[str, Any]) -> None:
    prefix, suffix = b'{"changelog": "', b'"}'
    body = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY_BYTES
    response = writer.post(f"{AGENT}/versions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201


def test_the_limit_is_the_one_the_app_is_given(service: AgentService, tokens: Tokens) -> None:
    with TestClient(asgi_app(service, max_body_bytes=100), raise_server_exceptions=False) as small:
        small.headers.update(tokens.header("write"))
        assert small.post("/api/v1/agents", json={"name": "A", "model_id": "m"}).status_code == 201
        problem = assert_problem(
            small.post("/api/v1/agents/A/versions", json={"changelog": "x" * 100}), 413, "body_too_large"
        )
        assert "100 bytes" in problem["detail"]


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent in chunks, without Content-Length (Transfer-Encoding: chunked)."""
    yield b'{"changelog": "'
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)
    yield b'"}'


def test_a_chunked_body_under_the_limit_is_accepted(writer: TestClient, agent: dict[str, Any]) -> None:
    response = writer.post(f"{AGENT}/versions", content=chunks(200_000), headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    assert len(response.json()["changelog"]) == 200_000


def test_a_chunked_body_over_the_limit_is_413(writer: TestClient, service: AgentService, agent: dict[str, Any]) -> None:
    with nothing_written(service):
        response = writer.post(
            f"{AGENT}/versions", content=chunks(2 * MAX_BODY_BYTES), headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 413, "body_too_large")


# -- 422 ---------------------------------------------------------------------------------


def test_a_bad_value_is_422_naming_the_field(writer: TestClient, service: AgentService, agent: dict[str, Any]) -> None:
    with nothing_written(service):
        for method, path, body, field in [
            ("PATCH", AGENT, {"temperature": 5}, "temperature"),
            ("PATCH", AGENT, {"agent_type": "robot"}, "agent_type"),
            ("POST", "/api/v1/agents", {"name": "New"}, "model_id"),
            ("POST", "/api/v1/agents", {"model_id": "m"}, "name"),
            ("POST", f"{AGENT}/versions/prune", {}, "keep"),
            ("POST", f"{AGENT}/versions/prune", {"keep": 1, "plan_id": 7}, "plan_id"),
        ]:
            problem = assert_problem(writer.request(method, path, json=body), 422, "invalid_value")
            assert problem["field"] == field, problem
            assert problem["detail"].startswith(f"{field}: ")


def test_a_missing_body_is_422_naming_the_body(
    writer: TestClient, service: AgentService, agent: dict[str, Any]
) -> None:
    with nothing_written(service):
        for method, path in [("POST", "/api/v1/agents"), ("PATCH", AGENT), ("POST", f"{AGENT}/versions/prune")]:
            assert assert_problem(writer.request(method, path), 422, "invalid_value")["field"] == "body"


def test_a_bad_query_parameter_is_422_naming_it(writer: TestClient, agent: dict[str, Any]) -> None:
    for path, field in [
        (f"{AGENT}/versions?limit=0", "query.limit"),
        (f"{AGENT}/versions?limit=ten", "query.limit"),
        (f"{AGENT}/versions?limit=10001", "query.limit"),
        (f"{AGENT}/versions?offset=-1", "query.offset"),
        ("/api/v1/audit?limit=0", "query.limit"),
        ("/api/v1/audit?limit=1001", "query.limit"),
        ("/api/v1/audit?before=0", "query.before"),
        ("/api/v1/audit?before=x", "query.before"),
    ]:
        problem = assert_problem(writer.get(path), 422, "invalid_value")
        assert problem["field"] == field, path


def test_a_bad_keep_is_422(writer: TestClient, service: AgentService, agent: dict[str, Any]) -> None:
    with nothing_written(service):
        for keep in (0, -1, 1.5, "3", True, None, [], {}, 2**63):
            problem = assert_problem(writer.post(f"{AGENT}/versions/prune", json={"keep": keep}), 422, "invalid_keep")
            assert problem["detail"].startswith("keep ")


def test_a_bad_keep_names_the_field_as_every_422_does(writer: TestClient, agent: dict[str, Any]) -> None:
    problem = assert_problem(writer.post(f"{AGENT}/versions/prune", json={"keep": 0}), 422, "invalid_keep")
    assert problem.get("field") == "keep"


# -- 503 ---------------------------------------------------------------------------------


def test_a_database_locked_past_the_timeout_is_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, db_path: Path, service: AgentService, agent: dict[str, Any]
) -> None:
    """Another process holds the write lock; the server's wait for it is shortened to 0.2 s for the test."""
    impatient_writers(monkeypatch, 0.2)
    impatient = AgentService(str(db_path), user="tester")
    secret = impatient.create_token("busy-bot", "write")["token"]
    try:
        with TestClient(asgi_app(impatient, token_cache_seconds=0), raise_server_exceptions=False) as client:
            client.headers.update(bearer(secret))
            with holding_the_write_lock(db_path):
                response = client.post(f"{AGENT}/versions", json={"changelog": "blocked"})
                problem = assert_problem(response, 503, "database_busy")
                assert response.headers["retry-after"] == "1"
                assert "Nothing was changed" in problem["detail"]
                assert client.get(AGENT).status_code == 200  # readers are not blocked
            assert client.post(f"{AGENT}/versions", json={"changelog": "later"}).status_code == 201
    finally:
        impatient.close()


# -- the request log --------------------------------------------------------------------


def test_one_log_line_per_request_names_method_path_status_and_actor(
    caplog: pytest.LogCaptureFixture, client: TestClient, tokens: Tokens, agent: dict[str, Any]
) -> None:
    caplog.set_level(logging.INFO, logger="kaizen_tui.api")
    caplog.clear()
    client.get("/healthz")
    client.get(f"/api/v1/agents/{agent['id']}/versions?limit=5", headers=tokens.header("read"))
    client.post("/api/v1/agents", json={}, headers={"Authorization": "Bearer kz_wrong"})
    client.delete(f"/api/v1/agents/{agent['id']}", headers=tokens.header("write"))
    lines = [record.getMessage() for record in caplog.records if record.name == "kaizen_tui.api"]
    assert [[*line.split(" ")[:3], line.split(" ")[-1]] for line in lines] == [
        ["GET", "/healthz", "200", "actor=-"],
        ["GET", f"/api/v1/agents/{agent['id']}/versions?limit=5", "200", f"actor={TOKEN_NAMES['read']}"],
        ["POST", "/api/v1/agents", "401", "actor=-"],
        ["DELETE", f"/api/v1/agents/{agent['id']}", "403", f"actor={TOKEN_NAMES['write']}"],
    ]
    for secret in (*tokens.secrets.values(), "kz_wrong"):
        assert secret not in caplog.text


def test_the_query_string_is_logged_without_a_secret_put_in_it(
    caplog: pytest.LogCaptureFixture, client: TestClient, tokens: Tokens, agent: dict[str, Any]
) -> None:
    secret = tokens.secrets["read"]
    caplog.set_level(logging.INFO, logger="kaizen_tui.api")
    caplog.clear()
    query = f"label=production&Access_Token=abc&API%5FKEY=def&note={secret}&{secret}&reason=why+not"
    client.get(f"/api/v1/agents/{agent['id']}/config?{query}", headers=tokens.header("read"))
    [line] = [record.getMessage() for record in caplog.records if record.name == "kaizen_tui.api"]
    hidden = "label=production&Access_Token=<hidden>&API%5FKEY=<hidden>&note=<hidden>&<hidden>&reason=why+not"
    assert f"/config?{hidden} " in line
    assert secret not in line and "abc" not in line and "def" not in line


# -- 500 ---------------------------------------------------------------------------------


def test_an_unexpected_failure_is_a_500_problem_without_a_traceback_or_details(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, writer: TestClient, service: AgentService
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail: /srv/secret/path")

    monkeypatch.setattr(service, "list_agents", broken)
    response = writer.get("/api/v1/agents")
    problem = assert_problem(response, 500, "internal_error")
    assert "/srv/secret/path" not in response.text and "RuntimeError" not in response.text
    assert "log" in problem["detail"]
    assert "/srv/secret/path" in caplog.text  # the server's log has the details
