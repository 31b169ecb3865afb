"""click's own texts ("Usage:", "Missing argument", "No such option") in the user's language.

click marks every text it prints for gettext (`_("Missing argument")`,
`ngettext(...)`), bound at import to the stdlib's `gettext.gettext`. A
catalog file would need compiled .mo files and a process-wide text domain;
instead `install()` rebinds those names in click's modules to a lookup of
this catalog, keyed by click's msgid exactly as a gettext catalog is, and
asked at the moment click formats the text (so `--lang` decides). In English,
or for a msgid not listed here, click's text passes through unchanged.

Only the texts a user of implkit can meet are listed (usage errors, help
headings, prompts); click's programming errors stay English.
"""

from __future__ import annotations

import importlib
from typing import Any

from implkit.lang import current, plural_ru

#: click's msgid -> Russian. Placeholders keep click's names: click formats the result.
RU: dict[str, str] = {
    "Usage:": "Использование:",
    "Options": "Параметры",
    "Commands": "Команды",
    "Positional arguments": "Аргументы",
    "Show this message and exit.": "Показать эту справку и выйти.",
    "Show the version and exit.": "Показать версию и выйти.",
    "%(prog)s, version %(version)s": "%(prog)s, версия %(version)s",
    "Try '{command} {option}' for help.": "Справка: '{command} {option}'.",
    "Error: {message}": "Ошибка: {message}",
    "Missing argument": "Не указан аргумент",
    "Missing option": "Не указан параметр",
    "Missing parameter": "Не указано значение",
    "Missing {param_type}": "Не указано: {param_type}",
    "Missing parameter: {param_name}": "Не указано значение: {param_name}",
    "Missing command.": "Не указана команда.",
    "No such command {name!r}.": "Нет команды {name!r}.",
    "No such option {name!r}.": "Нет параметра {name!r}.",
    "Option {name!r} does not take a value.": "Параметр {name!r} не принимает значения.",
    "Invalid value for {param_hint}: {message}": "Недопустимое значение {param_hint}: {message}",
    "Invalid value: {message}": "Недопустимое значение: {message}",
    "Aborted!": "Прервано.",
    "Repeat for confirmation": "Повторите для подтверждения",
    "Error: The two entered values do not match.": "Ошибка: введённые значения не совпадают.",
    "Error: invalid input": "Ошибка: недопустимый ввод",
    "Do you want to continue?": "Продолжить?",
    "Press any key to continue...": "Нажмите любую клавишу…",
    "Confirm the action without prompting.": "Подтвердить действие без вопроса.",
    "default: {default}": "по умолчанию: {default}",
    "env var: {var}": "переменная окружения: {var}",
    "required": "обязательно",
    "deprecated": "устарело",
    "(dynamic)": "(вычисляется)",
    "{value!r} is not a valid {number_type}.": "{value!r} — не число.",
    "{value} is not in the range {range}.": "{value} вне допустимого диапазона {range}.",
    "{value!r} is not a valid UUID.": "{value!r} — не UUID.",
    # click.Path names the kind at import ("file"), before the language is known: the text names the path only
    "{name} {filename!r} does not exist.": "{filename!r}: такого пути нет.",
    "{name} {filename!r} is a file.": "{filename!r} — файл, а нужна папка.",
    "{name} {filename!r} is a directory.": "{filename!r} — папка, а нужен файл.",
    "{name} {filename!r} is not readable.": "{filename!r}: нет прав на чтение.",
    "{name} {filename!r} is not writable.": "{filename!r}: нет прав на запись.",
    "{name} {filename!r} is not executable.": "{filename!r}: нет прав на выполнение.",
    "Could not open file {filename!r}: {message}": "Не удалось открыть файл {filename!r}: {message}",
    "Choose from:\n\t{choices}": "Выберите из:\n\t{choices}",
    "unknown error": "неизвестная ошибка",
}

#: click's (singular msgid, plural msgid) -> the Russian forms for 1, 2-4 and 5 (lang.plural_ru picks).
RU_PLURAL: dict[tuple[str, str], tuple[str, str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        ("Лишний аргумент ({args})", "Лишние аргументы ({args})", "Лишние аргументы ({args})"),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        ("Может быть, {possibility}?", "(Может быть, одно из: {possibilities}?)",
         "(Может быть, одно из: {possibilities}?)"),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        ("{value!r} — не {choice}.", "{value!r} — не одно из: {choices}.", "{value!r} — не одно из: {choices}."),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        ("Параметру {name!r} нужно значение.", "Параметру {name!r} нужно {nargs} значения.",
         "Параметру {name!r} нужно {nargs} значений."),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."):
        ("Нужно значений: {nargs}, а дано одно.", "Нужно значений: {nargs}, а дано {len}.",
         "Нужно значений: {nargs}, а дано {len}."),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."):
        ("{value!r} не соответствует формату {format}.", "{value!r} не соответствует форматам {formats}.",
         "{value!r} не соответствует форматам {formats}."),
}

_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types", "utils",
            "shell_completion")


def gettext(message: str) -> str:
    """click's `_`: the Russian text when the language is Russian and the catalog has it."""
    if current() == "ru":
        return RU.get(message, message)
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """click's `ngettext`: Russian forms agree with `count` (1 аргумент, 2 аргумента, 5 аргументов)."""
    if current() == "ru" and (singular, plural) in RU_PLURAL:
        return plural_ru(count, *RU_PLURAL[(singular, plural)])
    return singular if count == 1 else plural


def install() -> None:
    """Point click's gettext names at this catalog (idempotent; English output is unchanged)."""
    for name in _MODULES:
        module: Any = importlib.import_module(f"click.{name}")
        if getattr(module, "_", None) is not None:
            module._ = gettext
        if getattr(module, "ngettext", None) is not None:
            module.ngettext = ngettext
