"""PHP bracket query strings, the one parser the sandbox has: amoCRM and Bitrix24 both read their
requests' query strings (and Bitrix24 its form bodies) in PHP's syntax (`filter[id][]=1`), so it is
shared here rather than owned by either CRM's package."""

from __future__ import annotations

import re
from typing import Any

_BRACKETS = re.compile(r"\[([^\]]*)\]")


def parse_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """PHP bracket syntax → nested dicts/lists: `filter[id][]=1&filter[id][]=2` → {"filter": {"id": ["1", "2"]}}."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head] + _BRACKETS.findall(key[len(head):])
        node: Any = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if part == "" or last:
                    node.append(value if last else {})
                    node = node[-1]
                    continue
                node.append({})
                node = node[-1]
            nxt_is_list = not last and parts[i + 1] == ""
            if last:
                node[part] = value
            else:
                if part not in node or not isinstance(node[part], (dict, list)):
                    node[part] = [] if nxt_is_list else {}
                node = node[part]
    return result
