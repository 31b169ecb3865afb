"""Names and keys from free text (company names, segment names): Russian transliterated to Latin.

Its own module because both composing (the blueprint's name) and tailoring (group keys) need it,
and composing calls tailoring.
"""

from __future__ import annotations

import re


_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))
_LEGAL_FORMS = {"ооо", "оао", "зао", "пао", "ао", "ип", "тоо", "нко", "ано", "llc", "ltd", "inc", "gmbh"}


def slugify(company: str) -> str:
    """A blueprint name from a company name: «ООО «Мебельная фабрика»» → mebelnaya-fabrika."""
    words = [w for w in re.split(r"[^\w]+", company.lower()) if w and w not in _LEGAL_FORMS]
    latin = "".join(_TRANSLIT.get(ch, ch) for ch in "-".join(words))
    slug = re.sub(r"[^a-z0-9]+", "-", latin).strip("-")
    return slug[:100].rstrip("-") or "blueprint"
