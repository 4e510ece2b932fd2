"""The HTTP API on FastAPI: routes, authentication, conditional requests, problem details.

``create_app(service)`` builds the application around one open
:class:`~kaizen_tui.service.AgentService`; ``kaizen-tui serve`` runs it on
uvicorn. The service is synchronous; the endpoints await it through
:class:`~kaizen_tui.service.AsyncAgentService` on :data:`API_THREADS` threads
of the API's own, so a request waiting for the database never holds up the
event loop. Agents are named by id or unique name, versions by id or number,
as in the CLI. Every request but ``GET /healthz`` carries
``Authorization: Bearer TOKEN``; the token's name is the actor of what it
changes, its role what it may do (read < write < admin).

Conditional requests: ``GET`` of an agent sends ``ETag: "<revision>"`` and
of ``/config`` ``ETag: "<content hash>"``; both answer ``If-None-Match`` with
304. ``PATCH`` of an agent and a rollback honour ``If-Match: "<revision>"``:
a stale one is 412 and nothing changes.

Labels (``production``...) name versions; ``/config?label=production`` is
what an agent loads, with ``X-Kaizen-Version`` naming the version served.
Moving a label is compare-and-swap with ``expected_version`` in the body (a
stale one is 409 with ``current_version``); a protected label moves only
with an ``admin`` token (403 otherwise).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

from kaizen_tui import __version__
from kaizen_tui.api.problems import TITLES, json_bytes, problem, problem_of
from kaizen_tui.core.errors import Conflict, InvalidValue, KaizenError, StalePlan
from kaizen_tui.core.numbers import MAX_INTEGER, is_digit_limit, whole_number
from kaizen_tui.service import AgentService, AsyncAgentService
from kaizen_tui.service.tokens import role_allows

log = logging.getLogger("kaizen_tui.api")

#: Bodies larger than this are refused with 413 before they are read whole.
MAX_BODY_BYTES = 1024 * 1024
#: How long a token found valid is trusted without asking the database again:
#: a revoked token stops working within this many seconds.
TOKEN_CACHE_SECONDS = 5.0
JSON_TYPE = "application/json"
#: Threads the endpoints' service calls run on: as many as the store keeps connections for (SQLite's
#: idle ones, PostgreSQL's pool). Threads of our own through the asyncio executor, not FastAPI's
#: thread pool (plain def endpoints): at 32 clients anyio's threads cost the server 0.35-0.45 ms more
#: CPU a request (GET .../versions: 650-730 requests/s against 850-900 here; 520 with its 40 threads).
API_THREADS = 8

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


#: Methods whose requests carry a body worth checking against the limit before it is read.
BODY_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


class BodyTooLarge(Exception):
    """The request body passed the limit (:data:`MAX_BODY_BYTES` by default)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON as the service returns it (text from the database exactly, UTF-8)."""
    return Response(json_bytes(data), status_code=status, media_type=JSON_TYPE, headers=headers)


def quoted(tag: object) -> str:
    return f'"{tag}"'


def etags_of(header: str | None, *, weak: bool = True) -> set[str] | None:
    """The entity tags of an ``If-None-Match`` / ``If-Match`` header (``{"*"}`` for any).

    ``If-None-Match`` compares weakly: ``W/"3"`` is ``"3"``. ``If-Match``
    compares strongly (RFC 9110, 13.1.1), so there a weak tag never matches:
    ``weak=False`` leaves weak tags out.
    """
    if header is None:
        return None
    tags = set()
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            if not weak:
                continue
            tag = tag[2:]
        if tag == "*":
            tags.add("*")
        elif len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tags.add(tag[1:-1])
    return tags


#: The most digits a revision has (the database's integers are 64-bit): a longer tag names none.
REVISION_DIGITS = len(str(2**63 - 1))


def if_match(request: Request, agent: dict[str, Any]) -> int | None:
    """The revision a write must find (from ``If-Match``; None when absent or ``*``).

    A tag naming the agent's revision gives that revision (the service
    checks it again in its transaction); another revision gives that one
    (the service's conflict then says what changed since). A header naming
    no revision at all, or only weak tags (which never match ``If-Match``),
    is 412 at once.
    """
    header = request.headers.get("if-match")
    tags = etags_of(header, weak=False)
    if tags is None or "*" in tags:
        return None
    revisions = {int(tag) for tag in tags if tag.isdigit() and tag.isascii() and len(tag) <= REVISION_DIGITS}
    if agent["revision"] in revisions:
        return int(agent["revision"])
    if revisions:
        return max(revisions)
    weak = sorted((etags_of(header) or set()) - tags)
    if weak and not tags:  # there were tags, all of them weak
        detail = (
            f"If-Match: {one_line_header(header or '')} has only weak entity tags, and If-Match compares tags "
            f"strongly: a weak tag never matches. Send the ETag as GET gives it, a strong tag "
            f'("{one_line_header(weak[0], 24)}", not W/"{one_line_header(weak[0], 24)}"); nothing was changed.'
        )
    else:
        detail = f"If-Match names no revision of {agent['name']}; nothing was changed."
    raise _Refused(412, "precondition_failed", detail, current_revision=agent["revision"])


def one_line_header(value: str, limit: int = 80) -> str:
    """A header's value quoted in a message: control characters escaped, at most ``limit`` characters."""
    shown = loggable(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def precondition_failed(revision: int, detail: str) -> Response:
    """412: the ``If-Match`` does not name the agent's revision; nothing changed."""
    return problem(412, "precondition_failed", detail, headers={"ETag": quoted(revision)}, current_revision=revision)


def loggable(text: str) -> str:
    """Text for the log: every character that is not printable escaped (``\\x1b``, ``\\u202e``), so no
    request can write a line of its own, move the cursor, or reorder what a reader sees."""
    if text.isprintable():  # the common case, at once
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


#: Query parameters whose values are never logged: no endpoint takes a secret in the URL, but a
#: client may send one there by mistake (tokens belong in the Authorization header).
SECRET_PARAMETERS = frozenset(
    ("token", "access_token", "api_key", "apikey", "key", "secret", "password", "passwd", "auth", "authorization",
     "bearer", "session", "signature", "sig")
)  # fmt: skip
#: A kaizen-tui token's secret, in whatever parameter it was put.
_TOKEN_SECRET = re.compile(r"kz_[A-Za-z0-9_-]{8,}")


def loggable_query(query: bytes) -> str:
    """The query string for the request line (``?limit=5&offset=10``, as sent), secrets hidden; "" if none."""
    if not query:
        return ""
    parts = []
    for part in query.decode("latin-1").split("&"):
        name, equals, value = part.partition("=")
        if equals and (
            unquote_plus(name).strip().lower() in SECRET_PARAMETERS or _TOKEN_SECRET.search(unquote_plus(value))
        ):
            part = f"{name}=<hidden>"
        elif _TOKEN_SECRET.search(unquote_plus(part)):
            part = "<hidden>"
        parts.append(part)
    return "?" + loggable("&".join(parts))


class Guard:
    """ASGI middleware: refuses bodies over the limit (413) and logs one line per request.

    The line: method, path and query string (a parameter that could hold a
    secret hidden), status, time and the actor (the token's name); never a
    header, so never a secret.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}
        scope.setdefault("state", {})

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
            await send(message)

        try:
            if scope["method"] in BODY_METHODS:
                declared = dict(scope.get("headers") or []).get(b"content-length")
                length = whole_number(declared.decode("latin-1")) if declared is not None else None
                if length is not None and length > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            received = 0

            async def receiving() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise BodyTooLarge(self.max_body_bytes)
                return message

            await self.app(scope, receiving, sending)
        except BodyTooLarge as error:
            if not status["sent"]:
                await _too_large(error.limit)(scope, receive, sending)
        finally:
            actor = scope["state"].get("actor", "-")
            elapsed = (time.perf_counter() - started) * 1000
            target = loggable(scope["path"]) + loggable_query(scope.get("query_string", b""))
            method = loggable(scope["method"])
            log.info("%s %s %s %.1fms actor=%s", method, target, status["code"], elapsed, loggable(actor))


class Authorizer:
    """Bearer tokens, each checked against the database at most every few seconds.

    Every request passes here: a token seen in the last few seconds is
    checked on the event loop, and only a miss asks the database, on a thread.
    """

    def __init__(self, service: AsyncAgentService, cache_seconds: float) -> None:
        self.service = service
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, str] | None]] = {}

    async def identify(self, request: Request) -> dict[str, str] | None:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            return None
        now = time.monotonic()
        cached = self._cache.get(secret)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        identity = await self.service.authenticate(secret)
        if len(self._cache) > 10_000:
            self._cache.clear()  # bounded: a flood of made-up tokens cannot grow it
        self._cache[secret] = (now, identity)
        return identity

    def requires(self, role: str) -> Callable[[Request], Awaitable[str]]:
        """A dependency: the actor (the token's name) if the request may do what ``role`` may."""

        async def check(request: Request) -> str:
            identity = await self.identify(request)
            if identity is None:
                raise _Refused(401, "unauthorized", "Send a valid token: Authorization: Bearer TOKEN.")
            request.state.actor = identity["name"]
            request.state.role = identity["role"]
            if not role_allows(identity["role"], role):
                raise _Refused(
                    403,
                    "forbidden",
                    f"The token {identity['name']!r} has the role {identity['role']}; this needs {role}.",
                )
            return identity["name"]

        return check


class _Refused(Exception):
    """A request refused before the service is asked (no token, a role too low, an If-Match naming nothing)."""

    def __init__(self, status: int, code: str, detail: str, *, current_revision: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.current_revision = current_revision


def _number_too_long() -> InvalidValue:
    """A JSON body holding a number of more digits than Python reads: no field takes such a number."""
    return InvalidValue("body", f"holds a number of more than {sys.get_int_max_str_digits():,} digits")


def _only_keys(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(key) for key in body if key not in allowed)
    if unknown:
        raise InvalidValue(unknown[0], f"unknown field; this body takes {', '.join(allowed)}")


def _body_object(body: object) -> dict[str, Any]:
    """The JSON object of a body. A body sent without ``Content-Type: application/json``
    (``curl -d``) arrives as bytes and is read as JSON all the same."""
    if body is None or body == b"":
        return {}
    if isinstance(body, bytes):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError) as error:
            if is_digit_limit(error):
                raise _number_too_long() from None
            raise _Refused(400, "malformed_json", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidValue("body", "must be a JSON object")
    return body


def create_app(
    service: AgentService, *, token_cache_seconds: float = TOKEN_CACHE_SECONDS, archive_dir: Path | None = None
) -> FastAPI:
    """The API over ``service`` (which the caller opens and closes), without :class:`Guard` (see :func:`asgi_app`).

    ``archive_dir``: the folder a prune may archive into (see :func:`_archive_file`); None: no archives.
    """
    # /docs from the installed package's Swagger UI files (under /static-offline-docs), not from a CDN:
    # it works on a server without internet. No validator badge (Swagger UI would fetch it from
    # validator.swagger.io, naming this server's URL); no ReDoc.
    app = FastAPIOffline(
        swagger_ui_parameters={"validatorUrl": None},
        title="kaizen-tui",
        version=__version__,
        description=(
            "Version the configurations of AI agents: snapshot, list, compare, roll back, prune, and name "
            "versions with labels (production, staging) kept in a ledger. "
            "Every request but /healthz needs `Authorization: Bearer TOKEN` "
            "(`kaizen-tui token create NAME --role read|write|admin`)."
        ),
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    calls = AsyncAgentService(
        service, executor=ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="kaizen-api")
    )
    auth = Authorizer(calls, token_cache_seconds)
    #: /config bodies by content hash.
    bodies: dict[str, bytes] = {}
    reader, writer, admin = (Depends(auth.requires(role)) for role in ("read", "write", "admin"))

    @app.exception_handler(KaizenError)
    async def domain_error(request: Request, error: KaizenError) -> Response:
        return problem_of(error)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, error: BodyTooLarge) -> Response:
        return _too_large(error.limit)

    @app.exception_handler(_Refused)
    async def refused(request: Request, error: _Refused) -> Response:
        if error.current_revision is not None:
            return precondition_failed(error.current_revision, error.detail)
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return problem(error.status, error.code, error.detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        if first.get("type") == "json_invalid":
            return problem(400, "malformed_json", f"The body is not valid JSON: {first.get('msg', '')}.")
        where = [str(part) for part in first.get("loc", ()) if part != "body"]
        field = ".".join(where) or "body"
        return problem(422, "invalid_value", f"{field}: {first.get('msg', 'is not valid')}", field=field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if isinstance(error.__cause__, BodyTooLarge):  # FastAPI turns a failed body read into a 400
            return _too_large(error.__cause__.limit)
        if error.status_code == 400 and is_digit_limit(error.__cause__):  # valid JSON, but a number too long
            return problem_of(_number_too_long())
        if error.status_code == 400:
            return problem(400, "malformed_json", "The body cannot be read as JSON.")
        if error.status_code == 404:
            return problem(404, "not_found", f"No such endpoint: {request.method} {request.url.path}.")
        if error.status_code == 405:
            allowed = _methods_of(app, request.url.path)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
            return problem(405, "method_not_allowed", detail, headers={"Allow": ", ".join(allowed)})
        detail = error.detail if isinstance(error.detail, str) else TITLES.get(error.status_code, "Error")
        headers = dict(error.headers) if error.headers else None
        return problem(error.status_code, "error", detail, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "Something unexpected failed on the server; the log has the details.")

    def openapi_with_bearer() -> dict[str, Any]:
        """The OpenAPI document, declaring the bearer scheme every operation but /healthz needs.

        Declared here rather than as a FastAPI security dependency, which
        would run on every request for nothing: :class:`Authorizer` checks the token.
        """
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "kaizen-tui token create NAME --role ROLE",
                }
            }
            for path, operations in schema.get("paths", {}).items():
                if path != "/healthz":
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_bearer  # type: ignore[method-assign]

    # -- health --------------------------------------------------------------------

    @app.get("/healthz", tags=["health"], summary="Is the server up (no token needed)")
    async def healthz() -> Response:
        await calls.change_marker()  # the database answers
        return json_response({"status": "ok"})

    # -- agents --------------------------------------------------------------------

    @app.get("/api/v1/agents", tags=["agents"], summary="Every agent, by name")
    async def list_agents(actor: str = reader) -> Response:
        return json_response(await calls.list_agents())

    @app.post("/api/v1/agents", tags=["agents"], status_code=201, summary="Create an agent (its live config)")
    async def create_agent(
        body: Any = Body(
            ..., examples=[{"name": "Support Agent", "model_id": "gpt-4o", "system_prompt": "You are helpful."}]
        ),
        actor: str = writer,
    ) -> Response:
        agent = await calls.create_agent(_body_object(body), actor=actor)
        return json_response(
            agent, 201, {"Location": f"/api/v1/agents/{agent['id']}", "ETag": quoted(agent["revision"])}
        )

    @app.get("/api/v1/agents/{agent}", tags=["agents"], summary="One agent, by id or name (ETag: its revision)")
    async def get_agent(agent: str, request: Request, actor: str = reader) -> Response:
        found = await calls.find_agent(agent)
        etag = quoted(found["revision"])
        tags = etags_of(request.headers.get("if-none-match"))
        if tags is not None and ("*" in tags or str(found["revision"]) in tags):
            return Response(status_code=304, headers={"ETag": etag})
        return json_response(found, headers={"ETag": etag})

    @app.patch("/api/v1/agents/{agent}", tags=["agents"], summary="Change fields of the live config or the status")
    async def patch_agent(
        agent: str,
        request: Request,
        body: Any = Body(..., examples=[{"temperature": 0.3}]),
        actor: str = writer,
    ) -> Response:
        found = await calls.find_agent(agent)
        expected = if_match(request, found)
        try:
            updated = await calls.update(found["id"], _body_object(body), expected_revision=expected, actor=actor)
        except Conflict as error:
            return _precondition_failed(error, expected)
        return json_response(updated, headers={"ETag": quoted(updated["revision"])})

    @app.delete("/api/v1/agents/{agent}", tags=["agents"], status_code=204, summary="Delete an archived agent (admin)")
    async def delete_agent(agent: str, request: Request, actor: str = admin) -> Response:
        found = await calls.find_agent(agent)
        expected = if_match(request, found)
        try:
            await calls.delete_agent(found["id"], expected_revision=expected, actor=actor)
        except Conflict as error:
            return _precondition_failed(error, expected)
        return Response(status_code=204)

    @app.get(
        "/api/v1/agents/{agent}/config",
        tags=["agents"],
        summary="The config to run: live, or of a label or version (ETag: its content hash)",
        description=(
            "Without `label` or `version`, the live config (`X-Kaizen-Agent-Revision`: the agent's revision). "
            "With `label` (`latest`: the newest version) or `version` (a number, `v3` or an id), that version's "
            "config; `at` (ISO 8601, UTC unless an offset is given) asks the ledger where the label pointed then. "
            "The body is the config object in the snapshot's shape. `ETag` is its content hash; `If-None-Match` "
            "answers 304. `X-Kaizen-Version` and `X-Kaizen-Version-Id` name the version served (absent for the "
            "live config), `X-Kaizen-Label` the label asked for. A label or version whose stored snapshot cannot "
            "be read is 409 `damaged_snapshot` with its `version_number` and `version_id` (never a 304)."
        ),
    )
    async def get_config(
        agent: str,
        request: Request,
        label: str | None = Query(None, description="a label's name, or latest (the newest version)"),
        version: str | None = Query(None, description="a version: number (3, v3) or id"),
        at: str | None = Query(None, description="with label: where it pointed at this time (from the ledger)"),
        actor: str = reader,
    ) -> Response:
        # What agents poll: while nobody committed, the answer kept is given here on the event loop (the
        # change token: a couple of microseconds on SQLite); only a miss reads, on a thread. Through a
        # thread every time, p50 was 2.9x the bare app's instead of 1.6x, and the throughput of 32
        # clients 0.39x its own instead of 0.62x (bench/api.py).
        if label is None and version is None and at is None:
            live = service.get_config_cached(agent)
            if live is None:
                live = await calls.get_config(agent)
            return _live_config(live, request)
        found = service.resolve_config_cached(agent, label=label, version=version, at=at)
        if found is None:
            found = await calls.resolve_config(agent, label=label, version=version, at=at)
        headers = {
            "ETag": quoted(found["content_hash"]),
            "X-Kaizen-Version": str(found["version_number"]),
            "X-Kaizen-Version-Id": found["version_id"],
        }
        if found["label"] is not None:
            headers["X-Kaizen-Label"] = found["label"]
        if _matches(request, found["content_hash"]):
            return Response(status_code=304, headers=headers)
        return Response(json_bytes(found["config"]), media_type=JSON_TYPE, headers=headers)

    def _live_config(found: dict[str, Any], request: Request) -> Response:
        headers = {"ETag": quoted(found["content_hash"]), "X-Kaizen-Agent-Revision": str(found["revision"])}
        if _matches(request, found["content_hash"]):
            return Response(status_code=304, headers=headers)
        body = bodies.get(found["content_hash"])
        if body is None:  # the hash names the content, so its JSON never goes stale
            if len(bodies) >= 1024:
                bodies.clear()
            body = bodies[found["content_hash"]] = json_bytes(found["config"])
        return Response(body, media_type=JSON_TYPE, headers=headers)

    # HEAD of the two (for ETag checks): the same handlers, one operation each in the OpenAPI document.
    app.add_api_route("/api/v1/agents/{agent}", get_agent, methods=["HEAD"], include_in_schema=False)
    app.add_api_route("/api/v1/agents/{agent}/config", get_config, methods=["HEAD"], include_in_schema=False)

    # -- versions ------------------------------------------------------------------

    @app.post("/api/v1/agents/{agent}/versions", tags=["versions"], status_code=201, summary="Snapshot the live config")
    async def create_version(
        agent: str,
        body: Any = Body(None, examples=[{"changelog": "Updated system prompt for better accuracy"}]),
        actor: str = writer,
    ) -> Response:
        fields = _body_object(body)
        _only_keys(fields, ("changelog",))
        found = await calls.find_agent(agent)
        version = await calls.create_version(found["id"], fields.get("changelog"), actor=actor)
        location = f"/api/v1/agents/{found['id']}/versions/{version['id']}"
        return json_response(version, 201, {"Location": location})

    @app.get(
        "/api/v1/agents/{agent}/versions",
        tags=["versions"],
        summary="Versions, newest first",
        description=(
            "A JSON list, newest first: each version in the spec's shape (`config_snapshot` the stored text) "
            "plus what `kaizen-tui versions --json` shows: `config` (the snapshot decoded, defaults filled in; "
            "null when it is damaged), `damaged`, `damaged_reason`, `matches_live` (it equals the live config) "
            "and `labels` (the names of the labels on it). All versions unless `limit` is given. "
            "`X-Total-Count` is how many versions the agent has; while more remain, "
            '`Link: <…?limit=N&before=M>; rel="next"` is the next page. `before` (a version number) pages '
            "by number, which stays right while others snapshot or prune; `offset` is kept for older clients."
        ),
        responses={
            200: {
                "description": "The versions, newest first",
                "headers": {
                    "X-Total-Count": {
                        "description": "How many versions the agent has (on every page)",
                        "schema": {"type": "integer"},
                    },
                    "Link": {
                        "description": 'The next page (`rel="next"`), while more versions remain',
                        "schema": {"type": "string"},
                    },
                },
            }
        },
    )
    async def list_versions(
        agent: str,
        limit: int | None = Query(None, ge=1, le=10_000, description="at most this many versions"),
        before: int | None = Query(
            None, ge=1, le=MAX_INTEGER, description="only versions numbered below this one (paging)"
        ),
        offset: int = Query(0, ge=0, le=MAX_INTEGER, description="skip this many (give before or offset)"),
        actor: str = reader,
    ) -> Response:
        found = await calls.find_agent(agent)
        page = await calls.versions_page(found["id"], limit=limit, offset=offset, before=before)
        headers = {"X-Total-Count": str(page["total"])}
        if page["next_before"] is not None:
            following = f"/api/v1/agents/{found['id']}/versions?limit={limit}&before={page['next_before']}"
            headers["Link"] = f'<{following}>; rel="next"'
        return json_response(page["versions"], headers=headers)

    @app.post(
        "/api/v1/agents/{agent}/versions/prune",
        tags=["versions"],
        summary="Keep the newest N versions (or only see what that would delete)",
        description=(
            "`keep`: how many of the newest versions stay; a labelled version always stays. "
            '`"dry_run": true` changes nothing and answers the plan: `delete` (the versions it would '
            "delete, newest first, each with `matches_live`), `kept_labelled`, `live_loses_version` (the "
            "versions holding the live config would all go) and `plan_id`. Send that `plan_id` with the "
            "prune to delete exactly what the plan showed: if anything changed meanwhile it is 409 "
            "`conflict` with the fresh plan in `fresh`, and nothing is deleted. The answer: `deleted`, "
            "`oldest_deleted`, `newest_deleted`, `kept`, `kept_labelled`, `live_loses_version` (the live "
            "config is saved in no version now). `archive` (admin token; a server started with an archive "
            "folder): a file name in that folder to write what goes to first, in the same transaction "
            "(an export that `kaizen-tui import` brings back); it never replaces a file (409 "
            "`archive_exists`). The answer then has `archive`: `{file, versions, audit_events}`, or null "
            "when nothing went."
        ),
    )
    async def prune(
        agent: str,
        request: Request,
        body: Any = Body(..., examples=[{"keep": 10, "dry_run": True}, {"keep": 10, "plan_id": "4f1c0e9a2b7d6c35.42"}]),
        actor: str = writer,
    ) -> Response:
        fields = _body_object(body)
        _only_keys(fields, ("keep", "plan_id", "dry_run", "archive"))
        if "keep" not in fields:
            raise InvalidValue("keep", "is required: how many of the newest versions to keep")
        plan_id = fields.get("plan_id")
        if plan_id is not None and not isinstance(plan_id, str):
            raise InvalidValue("plan_id", "must be the plan_id of a dry run")
        dry_run = fields.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InvalidValue("dry_run", "must be true or false")
        if dry_run and plan_id is not None:
            raise InvalidValue("plan_id", "is for the prune itself: a dry run answers a plan_id")
        archive = _archive_file(fields.get("archive"), archive_dir, request)
        found = await calls.find_agent(agent)
        if archive is not None:
            await calls.check_archive(archive)  # refused as the prune would be: a file there, no folder
        if dry_run:
            return json_response(await calls.plan_prune(found["id"], fields["keep"]))
        result = await calls.prune(found["id"], fields["keep"], plan_id=plan_id, archive=archive, actor=actor)
        return json_response(result)

    @app.get(
        "/api/v1/agents/{agent}/versions/{version}",
        tags=["versions"],
        summary="One version, by number, id, latest or label",
    )
    async def get_version(agent: str, version: str, actor: str = reader) -> Response:
        found = await calls.find_agent(agent)
        return json_response(await calls.find_version(found["id"], version))

    @app.delete(
        "/api/v1/agents/{agent}/versions/{version}", tags=["versions"], status_code=204, summary="Delete a version"
    )
    async def delete_version(agent: str, version: str, actor: str = writer) -> Response:
        found = await calls.find_agent(agent)
        target = await calls.find_version(found["id"], version)
        await calls.delete_version(target["id"], actor=actor)
        return Response(status_code=204)

    @app.post(
        "/api/v1/agents/{agent}/versions/{version}/rollback",
        tags=["versions"],
        summary="Restore the live config from a version: number, id, latest or label (unsaved changes are saved first)",
    )
    async def rollback(agent: str, version: str, request: Request, actor: str = writer) -> Response:
        found = await calls.find_agent(agent)
        expected = if_match(request, found)
        try:
            # The reference (a label too) is resolved in the rollback's own transaction.
            result = await calls.rollback_to_version(found["id"], version, expected_revision=expected, actor=actor)
        except Conflict as error:
            return _precondition_failed(error, expected)
        return json_response(result, headers={"ETag": quoted(result["revision"])})

    @app.get(
        "/api/v1/agents/{agent}/versions/{old}/compare/{new}",
        tags=["versions"],
        summary="What changed from one version to another: numbers, ids, latest or labels "
        "(either may be 'live'; old may be 'previous')",
    )
    async def compare(agent: str, old: str, new: str, actor: str = reader) -> Response:
        found = await calls.find_agent(agent)
        return json_response(await calls.compare(found["id"], old, new))

    # -- labels --------------------------------------------------------------------

    @app.get("/api/v1/agents/{agent}/labels", tags=["labels"], summary="The agent's labels, by name")
    async def list_labels(agent: str, actor: str = reader) -> Response:
        return json_response(await calls.list_labels(agent))

    @app.get(
        "/api/v1/agents/{agent}/labels/history",
        tags=["labels"],
        summary="The ledger of the agent's labels, newest first",
        description="Every set, move and removal: who, when, from which version to which, why. "
        "Page back with `before` (the `id` of the last entry received).",
    )
    async def label_history(
        agent: str,
        label: str | None = Query(None, description="only this label's entries"),
        limit: int = Query(100, ge=1, le=1000),
        before: int | None = Query(
            None, ge=1, le=MAX_INTEGER, description="only entries older than this entry id (paging)"
        ),
        actor: str = reader,
    ) -> Response:
        return json_response(await calls.label_history(agent, label, limit=limit, before=before))

    @app.put(
        "/api/v1/agents/{agent}/labels/{label}",
        tags=["labels"],
        summary="Point a label at a version (create it or move it)",
        description=(
            "`version`: a number, `v3` or an id. `expected_version` makes it compare-and-swap: absent, unchecked; "
            "`null`, the label must not exist yet; a number, it must point there now. A stale one is 409 "
            "`label_conflict` with `current_version` (null: not set), and nothing moves. `reason` goes to the "
            "ledger. A protected label needs an admin token (403 `protected_label` otherwise). 200 with the "
            "label: `from_version_number` (null when it is new) and `moved` (false: it pointed there already)."
        ),
    )
    async def put_label(
        agent: str,
        label: str,
        request: Request,
        body: Any = Body(..., examples=[{"version": 3, "expected_version": 2, "reason": "better answers"}]),
        actor: str = writer,
    ) -> Response:
        fields = _body_object(body)
        _only_keys(fields, ("version", "expected_version", "reason"))
        if "version" not in fields:
            raise InvalidValue("version", "is required: the version the label names (a number, v3 or an id)")
        target = fields["version"]
        if isinstance(target, bool) or not isinstance(target, (int, str)):
            raise InvalidValue("version", "must be a version number, v3 or a version id")
        expected: dict[str, Any] = {}
        if "expected_version" in fields:
            expected["expected"] = _expected_version(fields["expected_version"])
        reason = fields.get("reason", "")
        if not isinstance(reason, str):
            raise InvalidValue("reason", "must be text")
        found = await calls.find_agent(agent)
        result = await calls.set_label(
            found["id"],
            label,
            target,
            reason=reason,
            allow_protected=_is_admin(request),
            actor=actor,
            **expected,
        )
        return json_response({"agent_id": found["id"], **result})

    @app.delete(
        "/api/v1/agents/{agent}/labels/{label}",
        tags=["labels"],
        summary="Remove a label (the ledger keeps where it pointed)",
        description="`expected_version`: only if it points there now (409 `label_conflict` otherwise); "
        "`reason` goes to the ledger. A protected label needs an admin token. 200 with "
        "`{label, agent_id, from_version_number}`.",
    )
    async def delete_label(
        agent: str,
        label: str,
        request: Request,
        expected_version: int | None = Query(
            None, ge=0, le=MAX_INTEGER, description="remove it only if it points at this version number now"
        ),
        reason: str = Query("", max_length=10_000, description="why: kept in the ledger"),
        actor: str = writer,
    ) -> Response:
        expected = {} if expected_version is None else {"expected": expected_version}
        result = await calls.remove_label(
            agent, label, reason=reason, allow_protected=_is_admin(request), actor=actor, **expected
        )
        return json_response(result)

    @app.get("/api/v1/labels/protected", tags=["labels"], summary="The protected label names")
    async def protected_labels(actor: str = reader) -> Response:
        return json_response(await calls.protected_labels())

    @app.put(
        "/api/v1/labels/protected/{label}",
        tags=["labels"],
        summary="Protect a label name for every agent (admin)",
        description="Moving or removing it then needs an admin token. `changed` is false when it already was.",
    )
    async def protect_label(label: str, actor: str = admin) -> Response:
        return json_response(await calls.protect_label(label, actor=actor))

    @app.delete(
        "/api/v1/labels/protected/{label}",
        tags=["labels"],
        summary="Stop protecting a label name (admin)",
        description="`changed` is false when it was not protected.",
    )
    async def unprotect_label(label: str, actor: str = admin) -> Response:
        return json_response(await calls.unprotect_label(label, actor=actor))

    # -- audit ---------------------------------------------------------------------

    @app.get(
        "/api/v1/audit",
        tags=["audit"],
        summary="Who did what, newest first",
        description="Each event: `id`, `at`, `actor`, `action`, `agent_id`, `version_id`, `detail`, and "
        "`agent_name` (the agent's name now; for a deleted agent the name it had; null for an event of no "
        "agent) with `agent_deleted`. `agent_id` (an id or a name) may name a deleted agent. "
        "Page back with `before` (the `id` of the last event received).",
    )
    async def audit(
        agent_id: str | None = Query(None, description="an agent's id or name (a deleted agent's too)"),
        limit: int = Query(100, ge=1, le=1000),
        before: int | None = Query(
            None, ge=1, le=MAX_INTEGER, description="only events older than this event id (paging)"
        ),
        actor: str = reader,
    ) -> Response:
        return json_response(await calls.audit_trail(agent_id, limit, before=before))

    _refuse_shadowed_methods(app)
    # Last: every other route answers its own methods first.
    app.router.routes.append(_OptionsRoute("/{path:path}", _options, methods=["OPTIONS"], include_in_schema=False))
    return app


def _matches(request: Request, content_hash: str) -> bool:
    """Does ``If-None-Match`` name this content (or ``*``)?"""
    tags = etags_of(request.headers.get("if-none-match"))
    return tags is not None and ("*" in tags or content_hash in tags)


def _is_admin(request: Request) -> bool:
    """Was the request made with an admin token (checked by its dependency before the handler runs)?"""
    return getattr(request.state, "role", None) == "admin"


def _expected_version(value: object) -> int | None:
    """``expected_version`` of a body: a version number, or null for "not set yet"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTEGER:
        raise InvalidValue("expected_version", "must be a version number, or null for 'the label is not set yet'")
    return value


def _precondition_failed(error: Conflict, expected: int | None) -> Response:
    """A stale ``If-Match`` is 412; any other conflict keeps its own status."""
    if expected is None or isinstance(error, StalePlan) or error.current_revision is None:
        return problem_of(error)
    return precondition_failed(error.current_revision, str(error))


def _methods_of(app: FastAPI, path: str) -> list[str]:
    """The methods that can succeed at ``path``, OPTIONS included (none: no such resource).

    They are the methods of the routes that own the path: of the routes
    whose pattern matches it, those with the fewest parameters. A fixed path
    such as ``…/versions/prune`` also matches ``…/versions/{version}``, but
    no version is named ``prune`` (nor a label ``history``): the parameter
    route's methods always fail there (:func:`_refuse_shadowed_methods`).
    """
    matching = [
        route
        for route in app.routes
        if isinstance(route, BaseRoute)
        and getattr(route, "endpoint", None) not in (_shadowed, _options)
        and (regex := getattr(route, "path_regex", None)) is not None
        and regex.match(path)
    ]
    if not matching:
        return []
    fewest = min(_parameters(route) for route in matching)
    methods: set[str] = {"OPTIONS"}
    for route in matching:
        if _parameters(route) == fewest:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _parameters(route: BaseRoute) -> int:
    return str(getattr(route, "path", "")).count("{")


async def _shadowed(request: Request) -> Response:
    """A method only a parameter route takes, at a fixed path that shadows it: 405 naming what the path takes."""
    raise StarletteHTTPException(405)


async def _options(request: Request) -> Response:
    """``OPTIONS``: 204 with ``Allow``, the methods that can succeed here (404 for a path that names nothing)."""
    allowed = _methods_of(request.app, request.url.path)
    if not allowed:
        return problem(404, "not_found", f"No such endpoint: OPTIONS {request.url.path}.")
    return Response(status_code=204, headers={"Allow": ", ".join(allowed)})


class _OptionsRoute(APIRoute):
    """Matches ``OPTIONS`` of any path, and nothing else: another method at a path no route takes stays a 404."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("method") != "OPTIONS":
            return Match.NONE, {}
        return super().matches(scope)


def _refuse_shadowed_methods(app: FastAPI) -> None:
    """Answer 405 at a fixed path for the methods only an overlapping parameter route takes.

    ``GET …/versions/prune`` used to reach ``GET …/versions/{version}`` and
    fail (no version "prune"); ``PUT …/labels/history`` reached the label
    route and failed (a reserved name). Such a method now answers 405 with
    ``Allow`` naming what the fixed path takes, as any other method a
    resource does not take. Called once all routes are added; the added
    routes go first, and match only their own path and methods.
    """
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    guards = []
    for fixed in routes:
        sample = re.sub(r"\{[^}]*\}", "x", fixed.path)
        shadowed: set[str] = set()
        for other in routes:
            if _parameters(other) > _parameters(fixed) and other.path_regex.match(sample):
                shadowed |= set(other.methods or ()) - set(fixed.methods or ())
        if shadowed:
            guards.append(APIRoute(fixed.path, _shadowed, methods=sorted(shadowed), include_in_schema=False))
    app.router.routes[:0] = guards


def asgi_app(
    service: AgentService,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    token_cache_seconds: float = TOKEN_CACHE_SECONDS,
    archive_dir: Path | None = None,
) -> ASGIApp:
    """The application with its guard (body limit, request log): what a server runs."""
    return Guard(create_app(service, token_cache_seconds=token_cache_seconds, archive_dir=archive_dir), max_body_bytes)


#: An archive's file name over HTTP: a plain name in the archive folder (no folder, no dot first).
ARCHIVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _archive_file(name: object, archive_dir: Path | None, request: Request) -> str | None:
    """The file a prune over HTTP archives to (None: no archive asked for).

    A server writes files only where its operator said (``kaizen-tui serve
    --archive-dir DIR``), only for an admin token, only under a plain name
    (no folder, no ``..``, no dot file), and never over a file, a link or
    anything else already there: a client never chooses a path on the server.
    """
    if name is None:
        return None
    if not _is_admin(request):
        raise _Refused(403, "forbidden", "An archive writes a file on the server: it needs an admin token.")
    if archive_dir is None:
        raise InvalidValue("archive", "this server has no archive folder, so it writes no archives")
    if not isinstance(name, str) or not ARCHIVE_NAME.fullmatch(name):
        raise InvalidValue(
            "archive",
            "must be a file name of letters, digits, '.', '-' and '_' (at most 100, not starting with '.'), "
            "such as support-2026-q3.jsonl",
        )
    return str(archive_dir / name)


def _too_large(limit: int) -> Response:
    return problem(413, "body_too_large", f"The request body is over the limit of {limit:,} bytes.")
