"""Russian person names as the duplicate pass compares them.

A name as typed («Иванов Иван Петрович», «И. Иванов», «ivan ivanov»,
«Ваня Иванов») is parsed into first name, surname and patronymic; every
token is first folded to a Latin *skeleton* (transliterated, ё = е, the
spelling variants of transliteration collapsed: `Юлия`, `Yulia` and
`Julia` give one skeleton), so Cyrillic and Latin spellings meet.

`compare_names` answers how two names relate, in four levels:

- `exact`: every part present on both sides is the same;
- `similar`: the same person written another way (order, initial,
  diminutive, a missing patronymic, a typo);
- `partial`: too little to say (one name empty or a lone first name);
- `conflict`: clearly different people (different first names, genders,
  surnames or patronymics; Иванов / Иванова are two people).

Why a dictionary of first names: order is free in CRM cards, and only
knowing which token is a first name tells «Иван Петров» from «Петров Иван»
reliably and diminutives («Ваня») from different names («Ирина» / «Ирма»).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

# Cyrillic → the canonical Latin skeleton directly (й → i, я → ia, ю → iu: what passports write).
_CYR = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "h", "ts", "ch", "sh", "sch", "", "y", "", "e", "iu", "ia"]))
_CYRILLIC = re.compile("[а-яё]")
# Latin spellings of one Cyrillic sound, folded to the same skeleton (longest first). Applied to Latin
# input only: on a transliterated Cyrillic word they would fire across letters (Копылов's «ыл»).
_FOLDS = [("shch", "sch"), ("kh", "h"), ("x", "ks"), ("w", "v"), ("j", "y"), ("ph", "f"), ("tz", "ts"),
          ("ck", "k"), ("iy", "i"), ("yi", "i"), ("ey", "ei"), ("ye", "e"), ("ie", "e"), ("iya", "ia"),
          ("ya", "ia"), ("yu", "iu"), ("ju", "iu"), ("yo", "e")]
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


@lru_cache(maxsize=200_000)
def skeleton(word: str) -> str:
    """A token folded to a Latin skeleton: `Щербаков`, `Shcherbakov` and `Scherbakov` agree."""
    text = word.lower()
    if _CYRILLIC.search(text):
        text = "".join(_CYR.get(ch, ch) for ch in text)
    else:
        for a, b in _FOLDS:
            text = text.replace(a, b)
        if text.endswith("y") and len(text) > 2:
            text = text[:-1] + "i"
    return text.replace("ii", "i")  # -ий, -ия as passports write them (Дмитрий: dmitrii) and as people do


# (full name, gender, diminutives). Common Russian first names; the diminutives are those people
# actually type into CRM cards (a call-centre operator writes «Саша», the site form «Александр»).
_FIRST_NAMES = """
Александр m Саша Саня Шура Алекс Санёк
Алексей m Лёша Алёша Лёха
Анатолий m Толя
Андрей m Андрюша Андрюха
Антон m Антоша Тоша
Аркадий m Аркаша
Арсений m Арсен Сеня
Артём m Тёма Артемий
Артур m
Богдан m
Борис m Боря
Вадим m Вадик
Валентин m Валя
Валерий m Валера
Василий m Вася
Виктор m Витя
Виталий m Виталик
Владимир m Вова Володя
Владислав m Влад Владик
Всеволод m Сева
Вячеслав m Слава
Геннадий m Гена
Георгий m Жора Гоша
Глеб m Глебушка
Григорий m Гриша
Даниил m Даня Данила
Денис m Дениска
Дмитрий m Дима Митя
Евгений m Женя
Егор m Егорка
Захар m
Иван m Ваня
Игорь m Игорёк
Илья m Илюша
Кирилл m Киря
Константин m Костя
Лев m Лёва
Леонид m Лёня
Максим m Макс
Марк m Марик
Матвей m Матвейка
Михаил m Миша
Никита m Никитка
Николай m Коля
Олег m Олежка
Павел m Паша
Пётр m Петя
Роман m Рома
Руслан m Руся
Семён m Сёма
Сергей m Серёжа Серж
Станислав m Стас
Степан m Стёпа
Тимофей m Тима
Тимур m Тимурка
Фёдор m Федя
Эдуард m Эдик
Юрий m Юра
Ярослав m Ярик Слава
Александра f Саша Саня Шура
Алина f Алинка
Алла f Аллочка
Анастасия f Настя
Ангелина f Геля
Анна f Аня Анюта
Валентина f Валя
Валерия f Лера
Вера f Верочка
Вероника f Ника
Виктория f Вика
Галина f Галя
Дарья f Даша
Диана f Дианка
Ева f
Евгения f Женя
Екатерина f Катя
Елена f Лена Алёна
Елизавета f Лиза
Жанна f Жанночка
Зоя f Зоечка
Инна f Инночка
Ирина f Ира
Карина f Каринка
Кира f
Кристина f Кристи
Ксения f Ксюша
Лариса f Лара
Лидия f Лида
Любовь f Люба
Людмила f Люда Мила
Маргарита f Рита
Марина f Мариша
Мария f Маша Маруся
Милана f
Надежда f Надя
Наталья f Наташа Наталия
Нина f Ниночка
Оксана f Оксанка
Ольга f Оля
Полина f Поля
Светлана f Света
Софья f Соня София
Тамара f Тома
Татьяна f Таня
Ульяна f Уля
Юлия f Юля
Яна f Яночка
"""


def _first_name_table() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """skeleton → the canonical full names it may stand for; canonical → gender."""
    forms: dict[str, set[str]] = {}
    gender: dict[str, str] = {}
    for line in _FIRST_NAMES.strip().splitlines():
        full, sex, *short = line.split()
        canonical = skeleton(full)
        gender[canonical] = sex
        for form in (full, *short):
            forms.setdefault(skeleton(form), set()).add(canonical)
    return {k: tuple(sorted(v)) for k, v in forms.items()}, gender


FIRST_FORMS, FIRST_GENDER = _first_name_table()
_PATRONYMIC_MALE = ("vich", "ich")
_PATRONYMIC_FEMALE = ("vna", "ichna")
_SURNAME_FEMALE = ("ova", "eva", "ina", "yna", "kaia", "aia")
_SURNAME_MALE = ("ov", "ev", "in", "yn", "ski", "tski", "oi")


@dataclass(frozen=True)
class PersonName:
    first: tuple[str, ...]       # canonical skeletons the first name may stand for; () if unknown
    first_raw: str               # the first-name token's skeleton ('' if none)
    first_initial: str           # one letter when only an initial was written
    surname: str                 # skeleton ('' if none)
    patronymic: str              # skeleton ('' if none; the initial's skeleton and a dot if an initial)
    gender: str                  # m | f | ''
    tokens: tuple[str, ...]      # every token's skeleton, for names the parser could not place
    ambiguous: bool              # no token is a known first name: the order is a guess

    @property
    def empty(self) -> bool:
        return not self.tokens

    @property
    def canonical(self) -> str:
        """One string per person-name spelling: the blocking and sorting key (surname first)."""
        first = self.first[0] if self.first else (self.first_raw or self.first_initial)
        return " ".join(filter(None, (self.surname, first)))


@lru_cache(maxsize=200_000)
def parse_name(name_key: str) -> PersonName:
    """Parse a name already normalised by `normalize.name_key` (lower case, ё→е, no punctuation)."""
    folded = [(len(t), skeleton(t)) for t in _TOKEN.findall(name_key)]
    # an initial is one letter as typed («Ю.»), whatever its skeleton's length («iu»)
    initials = [s for n, s in folded if n == 1 and s]
    words = [s for n, s in folded if n > 1 and s]
    tokens = [s for _n, s in folded if s]
    patronymic, first_raw, first, surname = "", "", (), ""
    gender = ""
    rest: list[str] = []
    for w in words:
        # «Ильич» is short; with three words, the one ending like a patronymic is one
        if not patronymic and (len(w) > 5 or len(words) > 2) and w.endswith(_PATRONYMIC_MALE + _PATRONYMIC_FEMALE) \
                and w not in FIRST_FORMS:
            patronymic = w
            gender = "f" if w.endswith(_PATRONYMIC_FEMALE) else "m"
        elif not first and w in FIRST_FORMS:
            first, first_raw = FIRST_FORMS[w], w
        else:
            rest.append(w)
    ambiguous = not first and len(rest) > 1
    if not first and len(rest) > 1:
        # No known first name: the cards mostly say «Фамилия Имя» or «Имя Фамилия»; guess by the
        # surname endings, else take the last token as the first name.
        rest.sort(key=lambda w: not w.endswith(_SURNAME_MALE + _SURNAME_FEMALE))
        first_raw = rest.pop()
    if rest:
        surname = rest[0]
        rest = rest[1:]
    first_initial = ""
    if initials:
        if not first and not first_raw:
            first_initial = initials[0]
            initials = initials[1:]
        if initials and not patronymic:
            patronymic = initials[0] + "."  # the dot marks an initial
    if first:
        genders = {FIRST_GENDER[c] for c in first}
        if len(genders) == 1:
            gender = gender or genders.pop()
    if not gender and surname:
        if surname.endswith(_SURNAME_FEMALE):
            gender = "f"
        elif surname.endswith(_SURNAME_MALE):
            gender = "m"
    return PersonName(first, first_raw, first_initial, surname, patronymic, gender, tuple(tokens), ambiguous)


EXACT, SIMILAR, PARTIAL, CONFLICT = "exact", "similar", "partial", "conflict"


def compare_names(a: PersonName, b: PersonName) -> tuple[str, str]:
    """(level, reason): how two parsed names relate (see the module docstring)."""
    if a.empty or b.empty:
        return PARTIAL, "a name is empty"
    if a.gender and b.gender and a.gender != b.gender:
        return CONFLICT, "different genders"
    if a.ambiguous or b.ambiguous:
        return _compare_tokens(a, b)
    level = EXACT
    reasons: list[str] = []
    # surname
    if a.surname and b.surname:
        if a.surname != b.surname:
            if _gender_pair(a.surname, b.surname):
                return CONFLICT, "surname forms of two genders"
            if _typo(a.surname, b.surname):
                level, _ = SIMILAR, reasons.append("surname typo")
            elif fuzz.ratio(a.surname, b.surname) >= 75:
                # two slips apart (two copies, each with its own typo): not proof, not a contradiction
                level, _ = PARTIAL, reasons.append("surnames alike")
            else:
                return CONFLICT, "different surnames"
    elif a.surname or b.surname:
        level = PARTIAL  # «Иван» and «Иван Петров»: one card says too little
        reasons.append("surname on one side only")
    # first name
    fa, fb = _first(a), _first(b)
    if fa and fb:
        if set(a.first) & set(b.first):
            if a.first_raw != b.first_raw:
                level, _ = _down(level, SIMILAR), reasons.append("diminutive")
        elif a.first and b.first:
            return CONFLICT, "different first names"
        elif _typo(fa, fb) or (min(len(fa), len(fb)) >= 3 and fa[:3] == fb[:3]):
            level, _ = _down(level, SIMILAR), reasons.append("first-name variant")
        else:
            return CONFLICT, "different first names"
    elif fa or fb:
        ia, ib = _first_forms(a) or {a.first_initial}, _first_forms(b) or {b.first_initial}
        if all(ia) and all(ib) and not any(x.startswith(y) or y.startswith(x) for x in ia for y in ib):
            return CONFLICT, "different first-name initials"
        if not (all(ia) and all(ib)):
            level = PARTIAL
            reasons.append("first name on one side only")
        else:
            level, _ = _down(level, SIMILAR), reasons.append("initial")
    elif a.first_initial and b.first_initial and not (a.first_initial.startswith(b.first_initial)
                                                       or b.first_initial.startswith(a.first_initial)):
        return CONFLICT, "different first-name initials"
    if not (a.surname and b.surname):
        level = PARTIAL
    # patronymic
    pa, pb = a.patronymic, b.patronymic
    if pa and pb:
        if pa.endswith(".") or pb.endswith("."):  # an initial: «И.» agrees with «Игоревич»
            ia, ib = pa.rstrip("."), pb.rstrip(".")
            if not (ia.startswith(ib) or ib.startswith(ia)):
                return CONFLICT, "different patronymics"
            if pa != pb:
                level, _ = _down(level, SIMILAR), reasons.append("patronymic initial")
        elif pa != pb:
            if not _typo(pa, pb, strict=True):  # Фёдорович / Егорович: two fathers, not a slip
                return CONFLICT, "different patronymics"
            level, _ = _down(level, SIMILAR), reasons.append("patronymic typo")
    elif pa or pb:
        level, _ = _down(level, SIMILAR), reasons.append("patronymic on one side only")
    return level, ", ".join(reasons) or "same name"


def _compare_tokens(a: PersonName, b: PersonName) -> tuple[str, str]:
    """Names the parser could not place (no known first name): compare the token sets."""
    ta = [t for t in a.tokens if len(t) > 1]
    tb = [t for t in b.tokens if len(t) > 1]
    if sorted(ta) == sorted(tb):
        return (EXACT if ta == tb else SIMILAR), "same words"
    if not ta or not tb:
        return PARTIAL, "initials only"
    score = fuzz.token_sort_ratio(" ".join(ta), " ".join(tb))
    if score >= 88:
        return SIMILAR, f"words alike ({score:.0f})"
    short, long_ = sorted((set(ta), set(tb)), key=len)
    if short <= long_:
        return PARTIAL, "the words of one name inside the other"
    return CONFLICT, "different words"


def _first(p: PersonName) -> str:
    return p.first[0] if len(p.first) == 1 and p.first_raw == p.first[0] else p.first_raw


def _first_forms(p: PersonName) -> set[str]:
    """The first name as written and the full names it may stand for («Катя»: katia, ekaterina)."""
    return {f for f in (p.first_raw, *p.first) if f}


def _down(level: str, to: str) -> str:
    order = (EXACT, SIMILAR, PARTIAL)
    return order[max(order.index(level), order.index(to))]


def _gender_pair(x: str, y: str) -> bool:
    """Иванов / Иванова, Островский / Островская, Толстой / Толстая: one surname, two genders."""
    short, long_ = sorted((x, y), key=len)
    return (long_ == short + "a" or (short.endswith("i") and long_ == short[:-1] + "aia")
            or (short.endswith("oi") and long_ == short[:-2] + "aia"))


def _typo(x: str, y: str, strict: bool = False) -> bool:
    """One slip of the keyboard in a word (two in a long one); a swap of two letters is one slip."""
    limit = 1 if strict or max(len(x), len(y)) < 8 else 2
    return OSA.distance(x, y, score_cutoff=limit) <= limit
