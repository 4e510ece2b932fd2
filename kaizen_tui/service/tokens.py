"""Tokens of the HTTP API: who may call it, and as whom.

A token is a name (the actor every change over HTTP is recorded as), a role
(``read`` reads; ``write`` also changes agents and versions; ``admin`` also
deletes agents and manages what later issues protect) and a secret shown once
when it is made. Only the SHA-256 of the secret is stored, so a copy of the
database gives nobody a working token.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from typing import Any

from kaizen_tui.core.errors import InvalidValue, TokenNotFound
from kaizen_tui.core.schema import check_text
from kaizen_tui.store import Store

ROLES = ("read", "write", "admin")
#: What each role may do, cumulative.
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
TOKEN_PREFIX = "kz_"
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def secret_hash(secret: str) -> str:
    """How a secret is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]


class TokenOperations:
    """The token operations of :class:`~kaizen_tui.service.AgentService` (a mixin: it has the store)."""

    # Provided by AgentService.
    store: Store
    clock: Callable[[], str]
    _actor: Callable[[str | None], str]

    def create_token(self, name: str, role: str, *, actor: str | None = None) -> dict[str, Any]:
        """Make a token; the result holds the secret (``token``), which is never shown again."""
        who = self._actor(actor)
        check_text("name", name, required=True)
        if not _TOKEN_NAME.match(name):
            raise InvalidValue(
                "name", "a token name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
            )
        if role not in ROLES:
            raise InvalidValue("role", f"must be one of {', '.join(ROLES)}; got {role!r}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = {
            "name": name,
            "role": role,
            "secret_hash": secret_hash(secret),
            "created_by": who,
            "created_at": self.clock(),
        }
        with self.store.writing() as tx:
            tx.insert_token(token)
            tx.insert_audit(_event(self.clock(), who, "token.create", {"name": name, "role": role}))
        return {"name": name, "role": role, "token": secret, "created_by": who, "created_at": token["created_at"]}

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token's name, role and creation (never a secret nor its hash)."""
        with self.store.reading() as tx:
            rows = tx.tokens()
        return [{key: row[key] for key in ("name", "role", "created_by", "created_at")} for row in rows]

    def revoke_token(self, name: str, *, actor: str | None = None) -> None:
        who = self._actor(actor)
        with self.store.writing() as tx:
            if not tx.delete_token(name):
                raise TokenNotFound(name)
            tx.insert_audit(_event(self.clock(), who, "token.revoke", {"name": name}))

    def authenticate(self, secret: str) -> dict[str, str] | None:
        """``{"name", "role"}`` of the token with this secret, or None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        with self.store.reading() as tx:
            row = tx.token_by_hash(secret_hash(secret))
        return {"name": row["name"], "role": row["role"]} if row else None


def _event(at: str, actor: str, action: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "agent_id": None,
        "version_id": None,
        "detail": json.dumps(detail, sort_keys=True),
    }
