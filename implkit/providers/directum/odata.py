"""The Integration Service over HTTP: Basic credentials, `$metadata`, keyset-paged reads.

Reading pattern (reference/directum-rx.md §3): ``$filter=Id gt {last}&$orderby=Id&$top={page}``
repeated until a 204 (the service's empty answer) or a short page. A filter on every request keeps
clear of the server's cap on unfiltered reads; `Id` order keeps paging stable while data changes,
which `$skip` would not.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterator

from implkit.errors import InputError
from implkit.http.redact import register_secret
from implkit.lang import say

_MESSAGES = {"credential": {"ru": "учётные данные Directum должны быть в виде LOGIN:PASSWORD (пользователь "
                                  "Integration Service)",
                            "en": "the Directum credential must be LOGIN:PASSWORD (the Integration Service user)"}}

PAGE = 500
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def parse_credential(value: str) -> tuple[str, str]:
    """``LOGIN:PASSWORD`` → (login, password); the login may hold spaces ("Integration Service")."""
    login, sep, password = (value or "").strip("\n").partition(":")
    if not sep or not login.strip() or not password:
        raise InputError(say(_MESSAGES, "credential"))
    return login.strip(), password


class BasicAuth:
    """`Authorization: Basic base64(login:password)`, the Integration Service's basic scheme."""

    can_refresh = False

    def __init__(self, login: str, password: str):
        self.login = login
        self._header = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
        register_secret(password)
        register_secret(self._header[len("Basic "):])

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._header}

    def refresh(self, failed: dict[str, str] | None = None) -> bool:
        return False

    def __repr__(self) -> str:
        return f"BasicAuth({self.login!r}, ***)"


@dataclass
class Metadata:
    """What `$metadata` declares: entity set → (qualified type, its structural properties, inherited first)."""

    sets: dict[str, str] = field(default_factory=dict)
    properties: dict[str, list[str]] = field(default_factory=dict)   # set -> property names

    @classmethod
    def parse(cls, text: str) -> "Metadata":
        root = ET.fromstring(text)
        types: dict[str, tuple[str | None, list[str]]] = {}
        sets: dict[str, str] = {}
        for schema in root.iter(f"{EDM}Schema"):
            namespace = schema.get("Namespace")
            for entity in schema.findall(f"{EDM}EntityType"):
                types[f"{namespace}.{entity.get('Name')}"] = (
                    entity.get("BaseType"), [p.get("Name") for p in entity.findall(f"{EDM}Property")])
            for container in schema.findall(f"{EDM}EntityContainer"):
                sets.update({s.get("Name"): s.get("EntityType") for s in container.findall(f"{EDM}EntitySet")})
        props = {}
        for name, qualified in sets.items():
            chain, current = [], qualified
            while current in types:
                chain.append(types[current][1])
                current = types[current][0]
            props[name] = [p for level in reversed(chain) for p in level]
        return cls(sets, props)


class DirectumOData:
    """The OData root (``…/Integration/odata``) over implkit's HttpClient (retries, redaction, counts)."""

    def __init__(self, http):
        self.http = http

    def requests_sent(self) -> int:
        return self.http.stats.total

    def metadata(self) -> Metadata:
        reply = self.http.request("GET", "$metadata")
        return Metadata.parse(reply.data if isinstance(reply.data, str) else "")

    def read_all(self, set_name: str, *, expand: str | None = None, page: int = PAGE) -> Iterator[list[dict]]:
        """Every row of `set_name`, page by page, by keyset on Id."""
        last = 0
        while True:
            params = {"$filter": f"Id gt {last}", "$orderby": "Id", "$top": str(page)}
            if expand:
                params["$expand"] = expand
            data = self.http.get(set_name, params)
            if data is None:                       # 204: nothing after `last`
                return
            if not isinstance(data, dict) or not isinstance(data.get("value"), list):
                from implkit.errors import ApiError
                raise ApiError(f"GET {set_name}: expected an OData collection, got {type(data).__name__}")
            rows = data["value"]
            if not rows:
                return
            yield rows
            last = rows[-1]["Id"]
            if len(rows) < page:
                return

    def close(self) -> None:
        self.http.close()


def _ref(row: dict, name: str) -> Any:
    value = row.get(name)
    return value.get("Id") if isinstance(value, dict) else None


def _kind(row: dict, default: str) -> str:
    """company | person | bank from `@odata.type` (``#…IPersonDto``), keyed on the type name only:
    an overridden type moves to the customer's namespace (reference §2.1)."""
    odata_type = row.get("@odata.type") or ""
    name = odata_type.rsplit(".", 1)[-1]
    return {"ICompanyDto": "company", "IPersonDto": "person", "IBankDto": "bank"}.get(name, default)


class DirectumRecords:
    """The counterparty directory as neutral rows for the snapshot (implkit/audit/directum.py)."""

    crm = "directum"
    STREAMS = ("employees", "counterparties", "contacts")

    def __init__(self, api: DirectumOData):
        self.api = api
        self.http = api.http

    def read(self, stream: str) -> Iterator[list[dict[str, Any]]]:
        if stream == "employees":
            for rows in self.api.read_all("IEmployees"):
                yield [{"id": r["Id"], "name": r.get("Name"), "status": r.get("Status")} for r in rows]
        elif stream == "counterparties":
            for rows in self.api.read_all("ICounterparties", expand="Responsible($select=Id)"):
                yield [{"id": r["Id"], "type": _kind(r, "company"), "name": r.get("Name"), "status": r.get("Status"),
                        "tin": r.get("TIN"), "trrc": r.get("TRRC"), "psrn": r.get("PSRN"),
                        "legal_address": r.get("LegalAddress"), "phones": r.get("Phones"), "email": r.get("Email"),
                        "nonresident": bool(r.get("Nonresident")),
                        "responsible_user_id": _ref(r, "Responsible")} for r in rows]
        elif stream == "contacts":
            for rows in self.api.read_all("IContacts", expand="Company($select=Id),Person($select=Id)"):
                yield [{"id": r["Id"], "name": r.get("Name"), "company_id": _ref(r, "Company"),
                        "person_id": _ref(r, "Person"), "status": r.get("Status"), "phone": r.get("Phone"),
                        "email": r.get("Email")} for r in rows]
        else:
            raise ValueError(f"unknown stream {stream!r}")

    def requests_sent(self) -> int:
        return self.api.requests_sent()

    def close(self) -> None:
        self.api.close()
