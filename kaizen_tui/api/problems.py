"""Errors as RFC 9457 problem details: ``application/problem+json`` with the error's stable ``code``.

Every failure a client can cause is a 4xx with a sentence naming what is
wrong; the database being unavailable is a 503 (with ``Retry-After`` when it
is only busy). No traceback ever leaves the server: an unexpected error is a
500 whose body says only that, and the log has the details.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

from starlette.responses import Response

from kaizen_tui.core.errors import (
    ArchiveExists,
    DamagedSnapshot,
    KaizenError,
    LabelConflict,
    LabelNotFound,
    ProtectedLabel,
    VersionLabelled,
)

PROBLEM = "application/problem+json"

#: The HTTP status of each error code of kaizen_tui.core.errors.
STATUS_OF_CODE: dict[str, int] = {
    "agent_not_found": 404,
    "version_not_found": 404,
    "version_of_another_agent": 404,
    "token_not_found": 404,
    "label_not_found": 404,
    "label_conflict": 409,
    "version_labelled": 409,
    "protected_label": 403,
    "ambiguous_agent": 409,
    "name_taken": 409,
    "conflict": 409,
    "agent_not_archived": 409,
    "damaged_snapshot": 409,
    "token_exists": 409,
    "invalid_value": 422,
    "invalid_keep": 422,
    "invalid_agent_file": 422,
    "archive_exists": 409,
    "file_not_written": 503,
    "precondition_failed": 412,
    "read_only": 403,
    "database_busy": 503,
    "database_error": 503,
    "database_not_found": 503,
    "database_unavailable": 503,
    "schema_too_new": 503,
}

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}

#: Seconds a client should wait before retrying a busy database.
RETRY_AFTER_BUSY = 1


def problem(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """A problem-details response."""
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return Response(json_bytes(body), status_code=status, media_type=PROBLEM, headers=headers)


def json_bytes(data: Any) -> bytes:
    """JSON as UTF-8; text that is not valid Unicode (a lone surrogate another tool stored) is escaped."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem_of(error: KaizenError) -> Response:
    """The response for a domain error: its code decides the status."""
    status = STATUS_OF_CODE.get(error.code, 400)
    extra: dict[str, Any] = {}
    field = getattr(error, "field", None)
    if isinstance(field, str):
        extra["field"] = field
    fresh = getattr(error, "fresh", None)
    if fresh is not None:
        extra["fresh"] = fresh
    conflicts = getattr(error, "conflicts", None)
    if conflicts:
        extra["conflicts"] = conflicts
    current = getattr(error, "current_revision", None)
    if current is not None:
        extra["current_revision"] = current
    if isinstance(error, LabelConflict):
        extra["current_version"] = error.current  # where the label points now (null: it is not set)
    if isinstance(error, (LabelNotFound, ProtectedLabel)):
        extra["label"] = error.label
    if isinstance(error, VersionLabelled):
        extra["labels"] = error.labels
    if isinstance(error, DamagedSnapshot) and error.version_id is not None:
        extra["version_number"] = error.version_number  # the version a label or reference named
        extra["version_id"] = error.version_id
    headers = (
        {"Retry-After": str(RETRY_AFTER_BUSY)} if error.code in ("database_busy", "database_unavailable") else None
    )
    return problem(status, error.code, in_api_words(error), headers=headers, **extra)


def in_api_words(error: KaizenError) -> str:
    """The error's sentence as the API says it.

    Most sentences suit every face. A few tell a person at a terminal what
    to do (a flag, a command, a confirmation): over HTTP the same fact comes
    with what a client does instead. The code and the error's fields stay
    the same.
    """
    if isinstance(error, ProtectedLabel):
        return f"{error.label!r} is a protected label: moving or removing it needs an admin token. Nothing moved."
    if isinstance(error, VersionLabelled):
        names = ", ".join(error.labels)
        how = " or ".join(f"…/labels/{label}" for label in error.labels)
        return (
            f"v{error.number} is labelled {names}: move or remove the label first (PUT or DELETE {how}). "
            "Nothing was deleted."
        )
    if isinstance(error, ArchiveExists):
        name = PurePath(error.path).name
        return (
            f"{name} exists already in the server's archive folder, and an archive never replaces a file: "
            "name another. Nothing was deleted."
        )
    return str(error)
