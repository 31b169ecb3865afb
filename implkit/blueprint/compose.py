"""Compose a blueprint from a questionnaire's answers and the feature modules.

`blueprints/features/<feature>.yaml` holds one partial blueprint a feature
(`kind: BlueprintFeature`, schema `#/$defs/featureModule`). Composition:

1. Select features: the sizing assessment's features with at least
   `min_stars` stars, plus `include`, minus `exclude`; `base` always. A
   selected feature pulls in the features its module `requires`; requiring
   an excluded feature is an error.
2. Merge the selected modules in the order of `implkit.model.FEATURES`.
   The merge rules:
   - mappings merge key by key;
   - a list of mappings (groups, roles, pipelines, stages, automations,
     fields, integrations, rules, funnel steps, KPIs, reports, manual steps)
     merges item by item on the item's `key` (an automation without a key
     on `stage.on.do`): a new key is appended; a module stage with
     `after: <stage key>` is inserted right after that stage instead;
   - a list of plain values (options, required_fields, sources...) gains
     the values it lacks, in the module's order;
   - the same value twice is fine; two modules giving one scalar different
     values is an error naming both files, unless the later module lists the
     object's address (or a parent's) in `metadata.overrides`, in which case
     the later value wins.
3. Fill metadata (name: a slug of the company name; company; version
   1.0.0), sizing (sellers, group) and `analytics.plan` from the answers,
   then narrow the modules' catalogues to the answers
   (`implkit.blueprint.tailor`: messengers, telephony provider, document
   templates, BI tool, sales segments).
4. Write the canonical form (`Blueprint.to_dict`) as YAML under a header
   comment naming the implkit version and the inputs: the same inputs give
   a byte-identical file. The result is validated before it is returned.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from implkit import __version__
from implkit.blueprint.addressing import item_key, object_address
from implkit.blueprint.names import slugify
from implkit.blueprint.tailor import TAILORING_ANSWERS, tailor
from implkit.blueprint.addressing import semantic_address as _address
from implkit.blueprint.validate import check_data, schema_problems
from implkit.data import blueprints_dir
from implkit.errors import InputError, Location, Problem
from implkit.lang import say
from implkit.model import API_VERSION, FEATURES, KIND, Blueprint
from implkit.yamlio import dump_yaml, load_yaml, location_of, to_plain

DEFAULT_VERSION = "1.0.0"
DEFAULT_WORKING_DAYS = 21

# Answer keys compose reads (questionnaire ids).
ANSWER_COMPANY = "company_name"
ANSWER_REVENUE = "revenue_plan_month"
ANSWER_CHECK = "average_check"
ANSWER_WORKING_DAYS = "working_days"


@dataclass(frozen=True)
class FeatureModule:
    feature: str
    title_ru: str
    title_en: str
    requires: tuple[str, ...]
    overrides: tuple[str, ...]
    path: str
    tree: Any  # the round-trip tree, for locations
    data: dict[str, Any]

    def title(self, lang: str) -> str:
        return self.title_ru if lang == "ru" else self.title_en


_MESSAGES = {
    "bad_module": {"ru": "{file}: недопустимый модуль функции", "en": "{file}: not a valid feature module"},
    "file_name": {"ru": "{path}: объявляет функцию {feature!r}; назовите файл {feature}.yaml",
                  "en": "{path}: declares feature {feature!r}; name the file {feature}.yaml"},
    "unknown_feature": {"ru": "{option} {name}: неизвестная функция (известны: {known})",
                        "en": "{option} {name}: unknown feature (known: {known})"},
    "exclude_base": {"ru": "--exclude base: базовая настройка всегда входит в описание",
                     "en": "--exclude base: the base setup is always part of a blueprint"},
    "both": {"ru": "--include и --exclude оба называют {names}", "en": "--include and --exclude both name {names}"},
    "no_module": {"ru": "нет модуля функции {feature!r} (ожидался {path})",
                  "en": "no feature module for {feature!r} (expected {path})"},
    "requires": {"ru": "функции {feature!r} нужна {needed!r}, а --exclude её убирает",
                 "en": "feature {feature!r} requires {needed!r}, which --exclude removes"},
    "no_key": {"ru": "{path}: элемент списка без ключа", "en": "{path}: a list item without a key"},
    "needs_key": {"ru": "каждому элементу нужен key", "en": "every item needs a key"},
    "cannot_place": {"ru": "{path}: некуда поставить {key!r}", "en": "{path}: cannot place {key!r}"},
    "no_after": {"ru": "after: нет {after!r} в {where}, когда добавляется функция {feature!r}",
                 "en": "after: no {after!r} in {where} when feature {feature!r} is merged"},
    "conflict": {"ru": "{new!r} в функции {feature!r} противоречит {old!r} из функции {first!r} в {there}; "
                       "согласуйте их или перечислите {address} в metadata.overrides файла {path}",
                 "en": "{new!r} in feature {feature!r} conflicts with {old!r} set by feature {first!r} at {there}; "
                       "make them agree, or list {address} in the metadata.overrides of {path}"},
    "differently": {"ru": "модули функций {first} и {path} задают {address} по-разному",
                    "en": "feature modules {first} and {path} define {address} differently"},
    "invalid_result": {"ru": "модули функций складываются в недопустимое описание",
                       "en": "the feature modules compose into an invalid blueprint"},
}


def load_module(path: str | os.PathLike) -> FeatureModule:
    """One feature module, schema-checked; InputError with every problem otherwise."""
    file = str(path)
    tree = load_yaml(file)
    data = to_plain(tree)
    problems = schema_problems(tree, data, file, kind="BlueprintFeature")
    if problems:
        raise InputError(say(_MESSAGES, "bad_module", file=file), problems)
    meta = data["metadata"]
    return FeatureModule(meta["feature"], meta["title"]["ru"], meta["title"]["en"],
                         tuple(meta.get("requires") or ()), tuple(meta.get("overrides") or ()),
                         file, tree, data)


def features_dir() -> Path:
    return blueprints_dir() / "features"


def load_modules(directory: str | os.PathLike | None = None) -> dict[str, FeatureModule]:
    """The feature modules of `directory` (default: the shipped ones), by feature key."""
    if directory is None:
        return dict(_shipped_modules())
    return _read_modules(Path(directory))


@cache
def _shipped_modules() -> tuple[tuple[str, FeatureModule], ...]:
    return tuple(_read_modules(features_dir()).items())


def _read_modules(folder: Path) -> dict[str, FeatureModule]:
    modules: dict[str, FeatureModule] = {}
    for path in sorted(folder.glob("*.yaml")):
        module = load_module(path)
        if path.stem != module.feature:
            raise InputError(say(_MESSAGES, "file_name", path=path, feature=module.feature))
        modules[module.feature] = module
    return modules


# --- feature selection -------------------------------------------------------


def select_features(selected: tuple[str, ...] | list[str], include=(), exclude=(),
                    modules: dict[str, FeatureModule] | None = None) -> tuple[str, ...]:
    """The features to compose, in FEATURES order (see the module docstring for the rules)."""
    modules = load_modules() if modules is None else modules
    for option, names in (("--include", include), ("--exclude", exclude)):
        for name in names:
            if name not in FEATURES:
                raise InputError(say(_MESSAGES, "unknown_feature", option=option, name=name, known=", ".join(FEATURES)))
    if "base" in exclude:
        raise InputError(say(_MESSAGES, "exclude_base"))
    both = sorted(set(include) & set(exclude))
    if both:
        raise InputError(say(_MESSAGES, "both", names=", ".join(both)))
    chosen = (set(selected) | set(include) | {"base"}) - set(exclude)
    pending = sorted(chosen, key=FEATURES.index)
    while pending:
        feature = pending.pop()
        module = modules.get(feature)
        if module is None:
            raise InputError(say(_MESSAGES, "no_module", feature=feature, path=features_dir() / (feature + ".yaml")))
        for needed in module.requires:
            if needed in exclude:
                raise InputError(say(_MESSAGES, "requires", feature=feature, needed=needed))
            if needed not in chosen:
                chosen.add(needed)
                pending.append(needed)
    return tuple(f for f in FEATURES if f in chosen)


# --- merging -----------------------------------------------------------------

_ORDERED_SECTIONS = ("groups", "roles", "pipelines", "fields", "loss_reasons", "integrations",
                     "distribution", "analytics", "manual")


class Merger:
    """Merges feature modules into one plain blueprint body, remembering where each value came from."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {}
        # semantic path (list items by key) -> (module, path inside that module's file)
        self.origin: dict[tuple, tuple[FeatureModule, tuple]] = {}

    def add(self, module: FeatureModule) -> None:
        for section in _ORDERED_SECTIONS:
            if section in module.data:
                self._merge_into(self.body, section, module.data[section], (section,), (section,), module)

    def _merge_into(self, parent: dict, name: str, value: Any, sem: tuple, mod: tuple,
                    module: FeatureModule) -> None:
        if name not in parent:
            parent[name] = self._fresh(value, sem, mod, module)
            return
        current = parent[name]
        if isinstance(current, dict) and isinstance(value, dict):
            for key, item in value.items():
                self._merge_into(current, key, item, sem + (key,), mod + (key,), module)
        elif _is_record_list(current) or _is_record_list(value):
            self._merge_records(current, value, sem, mod, module)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(v for v in value if v not in current)
        elif current != value:
            if self._may_override(module, sem):
                parent[name] = self._fresh(value, sem, mod, module)
            else:
                raise self._conflict(sem, mod, module, current, value)

    def _fresh(self, value: Any, sem: tuple, mod: tuple, module: FeatureModule) -> Any:
        """A copy of a value new to the body (records merged one by one, so `after` is honoured)."""
        self.origin[sem] = (module, mod)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                self._merge_into(out, key, item, sem + (key,), mod + (key,), module)
            return out
        if _is_record_list(value):
            records: list = []
            self._merge_records(records, value, sem, mod, module)
            return records
        if isinstance(value, list):
            return list(value)
        return value

    def _merge_records(self, current: list, incoming: list, sem: tuple, mod: tuple,
                       module: FeatureModule) -> None:
        list_name = sem[-1] if sem else ""
        for index, record in enumerate(incoming):
            here = mod + (index,)
            key = item_key(record, str(list_name))
            if key is None:
                raise InputError(say(_MESSAGES, "no_key", path=module.path),
                                 [Problem(location_of(module.tree, here, module.path), say(_MESSAGES, "needs_key"))])
            record = dict(record)
            after = record.pop("after", None)
            existing = next((r for r in current if item_key(r, str(list_name)) == key), None)
            if existing is not None:
                for name, value in record.items():
                    self._merge_into(existing, name, value, sem + (key, name), here + (name,), module)
                continue
            fresh = self._fresh(record, sem + (key,), here, module)
            if after is None:
                current.append(fresh)
                continue
            position = next((i for i, r in enumerate(current) if item_key(r, str(list_name)) == after), None)
            if position is None:
                raise InputError(say(_MESSAGES, "cannot_place", path=module.path, key=key), [Problem(
                    _located(module, here + ("after",), sem + (key,)),
                    say(_MESSAGES, "no_after", after=after, where=_address(sem), feature=module.feature))])
            current.insert(position + 1, fresh)

    def _may_override(self, module: FeatureModule, sem: tuple) -> bool:
        address = _address(sem)
        return any(address == o or address.startswith(o + ".") for o in module.overrides)

    def _conflict(self, sem: tuple, mod: tuple, module: FeatureModule, old: Any, new: Any) -> InputError:
        first, first_path = self._origin_of(sem)
        here = _located(module, mod, sem)
        there = location_of(first.tree, first_path, first.path)
        address = _address(sem)
        message = say(_MESSAGES, "conflict", new=new, feature=module.feature, old=old, first=first.feature,
                      there=there, address=object_address(sem), path=module.path)
        return InputError(say(_MESSAGES, "differently", first=first.path, path=module.path, address=address),
                          [Problem(here, message)])

    def _origin_of(self, sem: tuple) -> tuple[FeatureModule, tuple]:
        for length in range(len(sem), 0, -1):
            if sem[:length] in self.origin:
                return self.origin[sem[:length]]
        raise KeyError(sem)


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _located(module: FeatureModule, mod: tuple, sem: tuple) -> Location:
    loc = location_of(module.tree, mod, module.path)
    return Location(loc.file, loc.line, loc.column, _address(sem))


def merge_modules(features: tuple[str, ...] | list[str],
                  modules: dict[str, FeatureModule] | None = None) -> dict[str, Any]:
    """The merged body (groups, roles, pipelines...) of the modules of `features`, in FEATURES order."""
    modules = load_modules() if modules is None else modules
    merger = Merger()
    for feature in sorted(features, key=FEATURES.index):
        merger.add(modules[feature])
    return merger.body


# --- composing ---------------------------------------------------------------


def compose(answers: dict[str, Any], include=(), exclude=(), min_stars: int = 2, *,
            assessment: Any = None, answers_name: str | None = None,
            modules_dir: str | os.PathLike | None = None) -> str:
    """A blueprint YAML text for the company described by `answers` (see the module docstring).

    `assessment` (an `implkit.sizing.Assessment`) defaults to
    `implkit.sizing.matrix.assess(answers)`; `answers_name` is how the header
    names the answers (a file name); `modules_dir` replaces the shipped modules.
    """
    if assessment is None:
        from implkit.sizing.matrix import assess

        assessment = assess(answers)
    modules = load_modules(modules_dir)
    features = select_features(assessment.selected(min_stars), include, exclude, modules)
    body = merge_modules(features, modules)
    document = tailor(_document(answers, assessment, features, body), answers)
    canonical = Blueprint.from_dict(document).to_dict()
    text = _header(answers, assessment, features, include, exclude, min_stars, answers_name) + dump_yaml(canonical)
    _check_composed(canonical, text)
    return text


def _document(answers: dict[str, Any], assessment: Any, features: tuple[str, ...],
              body: dict[str, Any]) -> dict[str, Any]:
    company = str(answers.get(ANSWER_COMPANY) or "").strip()
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": _drop_empty({"name": slugify(company), "version": DEFAULT_VERSION, "company": company}),
        "sizing": {"sellers": assessment.sellers, "group": assessment.group},
        "features": list(features),
        **body,
    }
    plan = plan_from_answers(answers)
    if plan:
        analytics = document.setdefault("analytics", {})
        analytics["plan"] = {**(analytics.get("plan") or {}), **plan}
    return document


def plan_from_answers(answers: dict[str, Any]) -> dict[str, Any]:
    plan: dict[str, Any] = {}
    revenue, check = answers.get(ANSWER_REVENUE), answers.get(ANSWER_CHECK)
    if _positive(revenue):
        plan["revenue_month"] = revenue
    if _positive(check):
        plan["avg_check"] = check
    if plan:
        days = answers.get(ANSWER_WORKING_DAYS)
        plan["working_days"] = days if isinstance(days, int) and 1 <= days <= 31 else DEFAULT_WORKING_DAYS
    return plan


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in ("", None)}


def _header(answers: dict[str, Any], assessment: Any, features: tuple[str, ...], include, exclude,
            min_stars: int, answers_name: str | None) -> str:
    digest = hashlib.sha256(json.dumps(answers, sort_keys=True, ensure_ascii=False, default=str)
                            .encode("utf-8")).hexdigest()[:12]
    stars = {f.key: f.stars for f in assessment.features}
    listed = ", ".join(f"{f} ({stars.get(f) or 0}★)" for f in features)
    lines = [
        f"# Composed by implkit {__version__}: implkit blueprint compose",
        f"# answers: {answers_name or '(in memory)'} sha256:{digest}; sellers {assessment.sellers}, "
        f"group {assessment.group}",
        f"# selection: stars >= {min_stars}; include: {', '.join(include) or '-'}; "
        f"exclude: {', '.join(exclude) or '-'}",
        f"# features: {listed}",
        f"# tailored by: {', '.join(a for a in TAILORING_ANSWERS if answers.get(a)) or '-'}",
        "# Check edits with `implkit blueprint validate`; compare versions with `implkit blueprint diff`.",
    ]
    return "\n".join(lines) + "\n"


def _check_composed(canonical: dict[str, Any], text: str) -> None:
    """Validate the result; only when it fails, parse the text (slow) to locate the problems in it."""
    if not check_data(canonical, "<composed blueprint>"):
        return
    name = "<composed blueprint>"
    problems = check_data(load_yaml(name, text=text), name)
    raise InputError(say(_MESSAGES, "invalid_result"), problems)
