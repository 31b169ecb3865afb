"""`DirectumProvider`: the Provider protocol for a tenant whose API cannot change structure.

Nothing is writable (`Capabilities.writable` is empty), so the plan turns every blueprint object into
a manual row, worded by implkit/blueprint/manual_directum.py; create/update/delete are never called
and refuse if they are. `read_config` reads `$metadata` once: it proves the URL and the credentials,
and finds what the tenant exposes (the Parties sets and any custom ones, e.g. a deal module's).
"""

from __future__ import annotations

from typing import Sequence
from urllib.parse import urlsplit

from implkit.lang import say
from implkit.model import AccountInfo, Blueprint
from implkit.providers.base import Capabilities, LiveConfig, Operation, Recorder, Resolve

_MESSAGES = {"metadata": {"ru": "{root}: в $metadata нет {missing}; это точно корень Integration Service "
                                "(https://HOST/Integration)?",
                          "en": "{root}: $metadata has no {missing}; is this the Integration Service root "
                                "(https://HOST/Integration)?"}}

CRM = "directum"
REQUIRED_SETS = ("ICounterparties", "ICompanies", "IPersons", "IContacts")

WHY_NOTHING_WRITTEN = {"why": {
    "ru": "Integration Service Directum RX читает и пишет данные, но не структуру: типы сущностей, свойства, этапы "
          "и права создаются в среде разработки (DDS) и в администрировании. Ничего не записано; выполните там "
          "ручные шаги плана.",
    "en": "Directum RX's Integration Service reads and writes data, not structure: entity types, properties, "
          "stages and rights are made in the development studio (DDS) and the admin UI. Nothing was written; do "
          "the manual rows of the plan there."}}


class DirectumProvider:
    capabilities = Capabilities(crm=CRM, writable=frozenset(), deletable=frozenset(),
                                required_entities=frozenset())

    def __init__(self, api, service_root: str):
        self.api = api
        self.service_root = service_root
        self.metadata = None

    def account(self) -> AccountInfo:
        """No account id is exposed: the installation is its service root (host and service name)."""
        parts = urlsplit(self.service_root)
        ident = f"{parts.netloc}{parts.path}".lower()
        return AccountInfo(id=f"directum:{ident}", name=ident, subdomain=None,
                           extra={"sets": sorted(self.metadata.sets) if self.metadata else []})

    def read_config(self) -> LiveConfig:
        from implkit.errors import RuntimeFailure

        self.metadata = self.api.metadata()
        missing = [s for s in REQUIRED_SETS if s not in self.metadata.sets]
        if missing:
            raise RuntimeFailure(say(_MESSAGES, "metadata", root=self.service_root, missing=", ".join(missing)))
        return LiveConfig(account=self.account())

    def metadata_comment(self) -> str:
        """What `$metadata` exposes (entity sets, their types and properties, customer overrides included)
        as YAML comments for an exported blueprint: for reference, since the blueprint schema has no
        place for a CRM's compiled structure and none of it can be applied."""
        if self.metadata is None:
            self.read_config()
        lines = ["# Directum RX entity sets as $metadata declares them (for reference: structure is made in DDS;",
                 "# a type in a customer layer's namespace is an override):"]
        for name in sorted(self.metadata.sets):
            lines.append(f"#   {name} ({self.metadata.sets[name]}):")
            props = ", ".join(self.metadata.properties.get(name, []))
            while props:
                cut = props[:96].rfind(", ") if len(props) > 96 else len(props)
                cut = cut if cut > 0 else len(props)
                lines.append(f"#     {props[:cut]}")
                props = props[cut + 2:] if cut < len(props) else ""
        return "\n".join(lines) + "\n"

    def blueprint_problems(self, blueprint: Blueprint) -> list[tuple[tuple, str]]:
        return []

    def _refuse(self, kind: str, ops: Sequence[Operation]) -> None:
        raise NotImplementedError(f"{WHY_NOTHING_WRITTEN['why']['en']} ({len(ops)} {kind} operation(s) refused)")

    def create(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        self._refuse(kind, ops)

    def update(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        self._refuse(kind, ops)

    def delete(self, kind: str, ops: Sequence[Operation], resolve: Resolve, record: Recorder) -> None:
        self._refuse(kind, ops)

    def requests_sent(self) -> int:
        return self.api.requests_sent()

    def close(self) -> None:
        self.api.close()
