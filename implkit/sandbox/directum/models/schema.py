"""The entity types the Directum RX emulator serves, and the CSDL (`$metadata`) built from them.

Properties, lengths and the inheritance Counterparty → CompanyBase → Company/Bank, Counterparty →
Person come from the RX 4.8.144 base metadata (reference/directum-rx.md §2.3; the extract
`fixtures/directum/rx48_parties_metadata_extract.json`). Names follow §2.1: schemas
``Sungero.IntegrationService.Models.Generated.<Module>``, types ``I<Entity>Dto``, the container
``Sungero.IntegrationService.Container``. A customer override (settings ``overrides``) adds
properties to a type and moves its DTO into the layer's namespace; the entity set keeps its name.

Each type lives in a *table*: the counterparty types share one (so their ids are unique across
companies, persons and banks, as `ICounterparties(id)` needs); contacts, employees and the
reference types have their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

GENERATED = "Sungero.IntegrationService.Models.Generated"
CONTAINER_NS = "Sungero.IntegrationService"


@dataclass(frozen=True)
class EntityType:
    name: str                   # Company
    module: str                 # Parties
    table: str                  # counterparty | contact | employee | city | region | kind
    base: str | None = None
    abstract: bool = False
    # (name, Edm type, MaxLength or None)
    properties: tuple[tuple[str, str, int | None], ...] = ()
    navigation: tuple[tuple[str, str], ...] = ()   # (property, target type name)

    @property
    def dto(self) -> str:
        return f"I{self.name}Dto"


S, I64, B, DT = "Edm.String", "Edm.Int64", "Edm.Boolean", "Edm.DateTimeOffset"

TYPES: dict[str, EntityType] = {t.name: t for t in (
    EntityType("Counterparty", "Parties", "counterparty", abstract=True, properties=(
        ("Id", I64, None), ("Name", S, None), ("Status", S, None), ("TIN", S, 50), ("PSRN", S, 50),
        ("NCEO", S, 50), ("NCEA", S, 500), ("LegalAddress", S, 500), ("PostalAddress", S, 500),
        ("Phones", S, None), ("Email", S, None), ("Homepage", S, None), ("Note", S, 1000),
        ("Nonresident", B, None), ("Account", S, 34), ("CanExchange", B, None), ("Code", S, 10),
        ("ExternalId", S, None)),
        navigation=(("City", "City"), ("Region", "Region"), ("Bank", "Bank"), ("Responsible", "Employee"),
                    ("Kind", "CounterpartyKind"))),
    EntityType("CompanyBase", "Parties", "counterparty", base="Counterparty", abstract=True, properties=(
        ("TRRC", S, 50), ("LegalName", S, 500), ("IsCardReadOnly", B, None), ("Reliability", S, None)),
        navigation=(("HeadCompany", "Company"),)),
    EntityType("Company", "Parties", "counterparty", base="CompanyBase"),
    EntityType("Bank", "Parties", "counterparty", base="CompanyBase", properties=(
        ("BIC", S, 50), ("CorrespondentAccount", S, 34), ("SWIFT", S, 11), ("IsSystem", B, None))),
    EntityType("Person", "Parties", "counterparty", base="Counterparty", properties=(
        ("LastName", S, None), ("FirstName", S, None), ("MiddleName", S, None), ("ShortName", S, 254),
        ("DateOfBirth", DT, None), ("Sex", S, None), ("INILA", S, None), ("IdentitySeries", S, None),
        ("IdentityNumber", S, None), ("IdentityDateOfIssue", DT, None), ("IdentityExpirationDate", DT, None),
        ("IdentityAuthority", S, None), ("IdentityAuthorityCode", S, None), ("BirthPlace", S, None)),
        navigation=(("Citizenship", "Country"),)),
    EntityType("Contact", "Parties", "contact", properties=(
        ("Id", I64, None), ("Name", S, 750), ("Status", S, None), ("Department", S, None), ("JobTitle", S, None),
        ("Phone", S, None), ("Fax", S, None), ("Email", S, None), ("Homepage", S, None), ("Note", S, None),
        ("SigningReason", S, None)),
        navigation=(("Company", "CompanyBase"), ("Person", "Person"))),
    EntityType("CounterpartyKind", "Parties", "kind", properties=(
        ("Id", I64, None), ("Name", S, None), ("Status", S, None), ("Sid", S, 36), ("Note", S, None))),
    EntityType("City", "Commons", "city", properties=(("Id", I64, None), ("Name", S, None), ("Status", S, None)),
               navigation=(("Region", "Region"), ("Country", "Country"))),
    EntityType("Region", "Commons", "region", properties=(
        ("Id", I64, None), ("Name", S, None), ("Code", S, 10), ("Status", S, None)),
        navigation=(("Country", "Country"),)),
    EntityType("Country", "Commons", "country", properties=(
        ("Id", I64, None), ("Name", S, None), ("Code", S, 3), ("Status", S, None))),
    EntityType("Employee", "Company", "employee", properties=(
        ("Id", I64, None), ("Name", S, 750), ("Email", S, None), ("Phone", S, None), ("Description", S, None),
        ("Note", S, 1000), ("PersonnelNumber", S, 25), ("ExternalId", S, None),
        ("NeedNotifyExpiredAssignments", B, None), ("NeedNotifyNewAssignments", B, None),
        ("NeedNotifyAssignmentsSummary", B, None), ("Status", S, None)),
        navigation=(("Person", "Person"),)),
)}

# entity set -> declared type (a set holds rows of that type and of every type derived from it)
SETS: dict[str, str] = {
    "ICounterparties": "Counterparty", "ICompanies": "Company", "IBanks": "Bank", "IPersons": "Person",
    "IContacts": "Contact", "IEmployees": "Employee", "ICounterpartyKinds": "CounterpartyKind",
    "ICities": "City", "IRegions": "Region", "ICountries": "Country",
}
CONCRETE = tuple(name for name, t in TYPES.items() if not t.abstract)


@dataclass
class Model:
    """The types as one instance serves them: the base ones plus its customer overrides."""

    overrides: dict[str, dict] = field(default_factory=dict)   # type -> {"layer": str, "properties": [[name, edm]]}

    def namespace(self, type_name: str) -> str:
        layer = self.overrides.get(type_name, {}).get("layer")
        return f"{GENERATED}.{layer or TYPES[type_name].module}"

    def qualified(self, type_name: str) -> str:
        return f"{self.namespace(type_name)}.{TYPES[type_name].dto}"

    def own_properties(self, type_name: str) -> list[tuple[str, str, int | None]]:
        extra = [(p[0], p[1], None) for p in self.overrides.get(type_name, {}).get("properties", [])]
        return list(TYPES[type_name].properties) + extra

    def lineage(self, type_name: str) -> list[str]:
        chain = []
        while type_name:
            chain.append(type_name)
            type_name = TYPES[type_name].base
        return chain[::-1]

    def properties(self, type_name: str) -> dict[str, str]:
        """Structural properties (name -> Edm type) of `type_name`, inherited ones first."""
        return {name: edm for t in self.lineage(type_name) for name, edm, _ in self.own_properties(t)}

    def navigation(self, type_name: str) -> dict[str, str]:
        return {name: target for t in self.lineage(type_name) for name, target in TYPES[t].navigation}

    def derives_from(self, type_name: str, ancestor: str) -> bool:
        return ancestor in self.lineage(type_name)

    def concrete_of(self, declared: str) -> list[str]:
        return [t for t in CONCRETE if self.derives_from(t, declared)]

    def csdl(self) -> str:
        """EDMX 4.0: one Schema per namespace, the container with every served set."""
        by_ns: dict[str, list[str]] = {}
        for name, t in TYPES.items():
            lines = [f'      <EntityType Name="{t.dto}"'
                     + (f' BaseType="{self.qualified(t.base)}"' if t.base else "")
                     + (' Abstract="true"' if t.abstract else "") + ">"]
            if not t.base:
                lines.append('        <Key><PropertyRef Name="Id"/></Key>')
            for prop, edm, length in self.own_properties(name):
                attrs = f' Name="{escape(prop)}" Type="{edm}"'
                if prop == "Id":
                    attrs += ' Nullable="false"'
                if length:
                    attrs += f' MaxLength="{length}"'
                lines.append(f"        <Property{attrs}/>")
            for prop, target in t.navigation:
                lines.append(f'        <NavigationProperty Name="{prop}" Type="{self.qualified(target)}"/>')
            lines.append("      </EntityType>")
            by_ns.setdefault(self.namespace(name), []).extend(lines)
        out = ['<?xml version="1.0" encoding="utf-8"?>',
               '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
               "  <edmx:DataServices>"]
        for ns, lines in by_ns.items():
            out.append(f'    <Schema Namespace="{ns}" xmlns="http://docs.oasis-open.org/odata/ns/edm">')
            out.extend(lines)
            out.append("    </Schema>")
        out.append(f'    <Schema Namespace="{CONTAINER_NS}" xmlns="http://docs.oasis-open.org/odata/ns/edm">')
        out.append('      <EntityContainer Name="Container">')
        for set_name, type_name in SETS.items():
            out.append(f'        <EntitySet Name="{set_name}" EntityType="{self.qualified(type_name)}"/>')
        out += ["      </EntityContainer>", "    </Schema>", "  </edmx:DataServices>", "</edmx:Edmx>"]
        return "\n".join(out) + "\n"
