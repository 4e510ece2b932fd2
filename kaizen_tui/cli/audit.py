"""``kaizen-tui log``: the audit log as a person reads it, one line per event.

The wording lives in :mod:`kaizen_tui.core.audit_text`, shared with the TUI's
audit view; the sentences are raw text from the database: the caller prints
them through :func:`~kaizen_tui.cli.output.one_line`, so nothing in them
drives the terminal.
"""

from __future__ import annotations

from kaizen_tui.core.audit_text import ARROW, SUMMARIES, VALUE_WIDTH, agent_label, event_summary, short_value

__all__ = ["ARROW", "SUMMARIES", "VALUE_WIDTH", "agent_label", "event_summary", "short_value"]
