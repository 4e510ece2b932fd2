"""Agent configurations as YAML (or JSON) text: for ``create -f`` and for editing.

Multi-line strings (the system prompt) are written as YAML block text, so a
prompt reads and edits in ``$EDITOR`` as it will be sent to the model.
PyYAML is imported when a file is read or written, not at start.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kaizen_tui.core.errors import InvalidAgentFile
from kaizen_tui.core.numbers import is_digit_limit, long_number
from kaizen_tui.core.schema import EDITABLE_FIELDS


@functools.cache
def _dumper(double_quoted: Callable[[str], bool] | None) -> type:
    """A SafeDumper writing multi-line text as ``|`` blocks, and text ``double_quoted`` picks in quotes."""
    import yaml

    def represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
        if double_quoted is not None and double_quoted(text):
            return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
        if "\n" in text:
            return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", text)

    class AgentDumper(yaml.SafeDumper):
        pass

    AgentDumper.add_representer(str, represent_text)
    return AgentDumper


def dump_agent_yaml(fields: Mapping[str, Any], *, double_quoted: Callable[[str], bool] | None = None) -> str:
    """YAML for the editable fields of an agent, in the order people read them.

    ``double_quoted`` picks strings to write double-quoted (where YAML escapes
    are valid) instead of as block text.
    """
    import yaml

    ordered = {key: fields[key] for key in EDITABLE_FIELDS if key in fields}
    return yaml.dump(ordered, Dumper=_dumper(double_quoted), sort_keys=False, allow_unicode=True, width=100)


def parse_agent_text(text: str, source: str = "the text") -> dict[str, Any]:
    """Read YAML (JSON is YAML too) into a dict of fields, not yet validated."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise InvalidAgentFile(f"{source} nests lists and mappings too deeply.") from None
    except ValueError as error:  # a number longer than Python reads, a date that does not exist (2024-13-45)
        too_long = long_number(text) if is_digit_limit(error) else None
        if too_long is not None:
            raise InvalidAgentFile(f"{source}, line {too_long[0]:,}: {too_long[1]}.") from None
        raise InvalidAgentFile(f"{source} is not valid YAML: {error}.") from None
    except yaml.YAMLError as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(error, "problem", None) or str(error)
        raise InvalidAgentFile(f"{source} is not valid YAML{where}: {problem}") from None
    if data is None:
        raise InvalidAgentFile(f"{source} is empty.")
    if not isinstance(data, dict):
        raise InvalidAgentFile(f"{source} must be a mapping of fields (name: ..., model_id: ...).")
    return {str(key): value for key, value in data.items()}


def load_agent_file(path: str | Path) -> dict[str, Any]:
    """Read an agent file; ``.json`` files are read as strict JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidAgentFile(f"{path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidAgentFile(f"Cannot read {path}: {error}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except RecursionError:
            raise InvalidAgentFile(f"{path} nests lists and objects too deeply.") from None
        except ValueError as error:
            too_long = long_number(text) if is_digit_limit(error) else None
            if too_long is not None:
                raise InvalidAgentFile(f"{path}, line {too_long[0]:,}: {too_long[1]}.") from None
            raise InvalidAgentFile(f"{path} is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise InvalidAgentFile(f"{path} must hold a JSON object of fields.")
        return data
    return parse_agent_text(text, str(path))
