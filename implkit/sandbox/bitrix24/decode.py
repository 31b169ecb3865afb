"""Request decoding: JSON bodies, form bodies and query strings into one nested structure.

Bitrix24 reads parameters the PHP way (reference/bitrix24-api.md §2): ``fields[TITLE]=x``,
``select[]=ID``, ``filter[>ID]=5``, ``fields[PHONE][0][VALUE]=1`` nest into arrays, and a PHP
array whose keys are 0..n-1 in order is a list. The query string and the body are merged (the
body wins), as PHP's ``$_REQUEST`` does. The same decoder reads the query part of every
``batch`` command.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from implkit.sandbox.querystring import parse_query


class BodyError(ValueError):
    """A body that can't be decoded (invalid JSON, or JSON that is not an object)."""


def php_lists(value: Any) -> Any:
    """Turn dicts keyed "0".."n-1" (in that order) into lists, recursively, as PHP arrays read back."""
    if isinstance(value, dict):
        converted = {k: php_lists(v) for k, v in value.items()}
        keys = list(converted)
        if keys and keys == [str(i) for i in range(len(keys))]:
            return [converted[k] for k in keys]
        return converted
    if isinstance(value, list):
        return [php_lists(v) for v in value]
    return value


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return php_lists(parse_query(pairs))


def decode_query(query: str) -> dict[str, Any]:
    return decode_pairs(parse_qsl(query, keep_blank_values=True))


def decode_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """JSON or form-encoded body → nested dict (multipart is read by the gateway into pairs)."""
    if not raw.strip():
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return decode_query(raw.decode("utf-8", "replace"))
    try:
        value = json.loads(raw)
    except ValueError:
        if kind == "application/json":
            raise BodyError("invalid JSON body") from None
        return decode_query(raw.decode("utf-8", "replace"))   # curl -d without a content type
    if not isinstance(value, dict):
        raise BodyError("the JSON body is not an object")
    return value


def merged(query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {**query, **body}
