"""Duplicate groups in every report format: the records, the one to keep, the evidence of each link.

The duplicate checks (C01–C04, C14) carry groups, not a flat id list
(implkit.audit.duplicates). `report.py` calls these renderers for any
finding whose details hold groups or shared channels; they are kept apart
from the rest of the report so the audit-output work and the duplicate
work change different files.
"""

from __future__ import annotations

import html
from typing import Any

MESSAGES = {
    "en": {"stats": "{groups} groups, {pairs} pairs compared in {blocks} blocks (largest {largest}); "
                    "{truncated} large blocks compared by sorted neighbourhood",
           "group": "keep {keep}, merge {merge} ({level}, {confidence:.2f})",
           "shared": "{kind} {key}{generic}: {people} people — {members}",
           "generic": " (generic mailbox)", "branch": "INN {inn}: branches with KPP {kpps} (possible, not merged)",
           "owners": "owners", "keep_rule": "Record to keep: {rule}.",
           "more_groups": "shown {shown} of {total} groups; every group: --format json",
           "more_shared": "shown {shown} of {total} shared numbers and addresses; every one: --format json",
           "head": ("keep", "merge", "level", "evidence")},
    "ru": {"stats": "групп: {groups}; сравнено пар: {pairs} в {blocks} блоках (крупнейший {largest}); "
                    "больших блоков, сравненных по соседям в сортировке: {truncated}",
           "group": "оставить {keep}, объединить {merge} ({level}, {confidence:.2f})",
           "shared": "{kind} {key}{generic}: людей — {people}: {members}",
           "generic": " (общий ящик)", "branch": "ИНН {inn}: филиалы с КПП {kpps} (возможно, не объединять)",
           "owners": "ответственные", "keep_rule": "Какую запись оставить: {rule}.",
           "more_groups": "показано групп: {shown} из {total}; все группы: --format json",
           "more_shared": "показано общих номеров и адресов: {shown} из {total}; все: --format json",
           "head": ("оставить", "объединить", "уверенность", "основания")},
}
LEVELS_RU = {"certain": "точно", "probable": "вероятно", "possible": "возможно"}
# Evidence as the pass writes it (implkit.audit.duplicates, person_names), word by word in Russian.
EVIDENCE_RU = [("phone:", "телефон "), ("email:", "e-mail "), ("inn:missing on one side", "ИНН нет у одной"),
               ("inn:", "ИНН "), ("kpp:empty", "КПП пуст"), ("kpp:", "КПП "), ("company", "одна компания"),
               ("name:exact", "имя совпадает"), ("name:similar", "имя похоже"), ("name:partial", "имя неполное"),
               ("name:", "название "), ("same name", "то же имя"), ("same words", "те же слова"),
               ("surname typo", "опечатка в фамилии"), ("surnames alike", "фамилии похожи"),
               ("diminutive", "уменьшительное имя"), ("first-name variant", "вариант имени"),
               ("patronymic initial", "инициал отчества"), ("patronymic typo", "опечатка в отчестве"),
               ("patronymic on one side only", "отчество только в одной"),
               ("surname on one side only", "фамилия только в одной"),
               ("first name on one side only", "имя только в одной"), ("initial", "инициал"),
               ("a name is empty", "имя пустое"), ("initials only", "только инициалы"),
               ("the words of one name inside the other", "одно имя внутри другого"), ("words alike", "слова похожи")]


def _shown(finding: dict[str, Any], key: str) -> tuple[list[dict[str, Any]], int]:
    """The first of the finding's groups (or shared channels) a report for reading shows — as many as its
    samples of records (a million-record account has tens of thousands: a report of megabytes) — and
    how many there are; JSON keeps every one."""
    items = (finding.get("details") or {}).get(key) or []
    limit = finding.get("samples")
    return (items if limit is None else items[:limit]), len(items)


def _more(t: dict[str, str], key: str, shown: list[Any], total: int) -> list[str]:
    return [t[key].format(shown=len(shown), total=total)] if len(shown) < total else []


def has_groups(finding: dict[str, Any]) -> bool:
    details = finding.get("details") or {}
    return "duplicate_groups" in details or "shared_channels" in details


def _t(lang: str) -> dict[str, str]:
    return MESSAGES.get(lang, MESSAGES["en"])


def _level(group: dict[str, Any], lang: str) -> str:
    return LEVELS_RU.get(group["level"], group["level"]) if lang == "ru" else group["level"]


def _evidence(link: dict[str, Any], lang: str = "en") -> str:
    a, b = link["records"]
    items = link["evidence"]
    if lang == "ru":
        items = [_ru(item) for item in items]
    return f"{a}–{b}: " + "; ".join(items)


def _ru(item: str) -> str:
    for en, ru in EVIDENCE_RU:
        item = item.replace(en, ru)
    return item


def text_lines(finding: dict[str, Any], lang: str = "en", indent: str = "  ") -> list[str]:
    """Plain lines (table output): the pass's figures, then each group with its evidence chain."""
    d = finding.get("details") or {}
    t = _t(lang)
    lines = [indent + f"{finding['id']} " + t["stats"].format(
        groups=d.get("groups", 0), pairs=f"{d.get('compared_pairs', 0):,}", blocks=d.get("blocks", 0),
        largest=d.get("largest_block", 0), truncated=len(d.get("truncated_blocks") or []))]
    groups, total = _shown(finding, "duplicate_groups")
    for g in groups:
        lines.append(indent * 2 + t["group"].format(keep=g["keep"], merge=", ".join(map(str, g["merge"])),
                                                    level=_level(g, lang), confidence=g["confidence"]))
        lines.extend(indent * 3 + _evidence(link, lang) for link in g["evidence"])
    lines.extend(indent * 2 + line for line in _more(t, "more_groups", groups, total))
    shared, total = _shown(finding, "shared_channels")
    lines.extend(indent * 2 + _shared(s, t) for s in shared)
    lines.extend(indent * 2 + line for line in _more(t, "more_shared", shared, total))
    for b in d.get("branches") or []:
        lines.append(indent * 2 + t["branch"].format(inn=b["inn"], kpps=", ".join(b["kpp"])))
    return lines


def _shared(s: dict[str, Any], t: dict[str, str]) -> str:
    return t["shared"].format(kind=s["kind"], key=s["key"], generic=t["generic"] if s["generic"] else "",
                              people=len(s["people"]), members=" | ".join(", ".join(map(str, p))
                                                                          for p in s["people"]))


def markdown_lines(finding: dict[str, Any], lang: str = "en", link=None) -> list[str]:
    """Markdown: one bullet per group (keep, merge, level) with its links as sub-bullets."""
    d = finding.get("details") or {}
    t = _t(lang)
    ref = link or (lambda i: str(i))
    out = [t["keep_rule"].format(rule=d["keep_rule"]), ""] if d.get("keep_rule") and d.get("duplicate_groups") \
        else []
    groups, total = _shown(finding, "duplicate_groups")
    for g in groups:
        out.append("- " + t["group"].format(keep=ref(g["keep"]), merge=", ".join(ref(i) for i in g["merge"]),
                                            level=_level(g, lang), confidence=g["confidence"]))
        out.extend(f"  - {_evidence(link_, lang)}" for link_ in g["evidence"])
    out.extend("- " + line for line in _more(t, "more_groups", groups, total))
    shared, total = _shown(finding, "shared_channels")
    out.extend("- " + _shared(s, t) for s in shared)
    out.extend("- " + line for line in _more(t, "more_shared", shared, total))
    for b in d.get("branches") or []:
        out.append("- " + t["branch"].format(inn=b["inn"], kpps=", ".join(b["kpp"])))
    return out + ([""] if out else [])


def html_block(finding: dict[str, Any], lang: str = "en") -> str:
    """HTML: a table of groups (keep, merge, level, evidence) and a list of shared channels."""
    e = html.escape
    d = finding.get("details") or {}
    t = _t(lang)
    parts = []
    groups, total = _shown(finding, "duplicate_groups")
    if groups:
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t["head"]) + "</tr>")
        for g in groups:
            evidence = "<br>".join(e(_evidence(link, lang)) for link in g["evidence"])
            parts.append(f"<tr><td>{g['keep']}</td><td>{e(', '.join(map(str, g['merge'])))}</td>"
                         f"<td>{e(_level(g, lang))} ({g['confidence']:.2f})</td><td>{evidence}</td></tr>")
        parts.append("</table>")
        parts.extend(f"<p>{e(line)}</p>" for line in _more(t, "more_groups", groups, total))
    shared, total = _shown(finding, "shared_channels")
    branches = d.get("branches") or []
    if shared or branches:
        parts.append("<ul>" + "".join(f"<li>{e(_shared(s, t))}</li>" for s in shared)
                     + "".join(f"<li>{e(t['branch'].format(inn=b['inn'], kpps=', '.join(b['kpp'])))}</li>"
                               for b in branches) + "</ul>")
        parts.extend(f"<p>{e(line)}</p>" for line in _more(t, "more_shared", shared, total))
    return "".join(parts)
