"""When two agent names are the same name: ignoring case, Unicode forms and extra spaces.

``Support Agent``, ``support agent``, ``SUPPORT  AGENT`` and ``Résumé`` typed with a
combining accent or a precomposed one are each one name. The key is stored
beside the name, under a unique index, so the database itself refuses a
second agent with the same name in the same transaction as the write.
"""

from __future__ import annotations

import unicodedata


def name_key(name: str) -> str:
    """The form two names are compared in: NFKC, Unicode case folding, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())
