"""The spec's refusals in the user's language: read by implkit.spec and implkit.spec.context (a leaf, so
neither imports the other for its words)."""

MESSAGES = {
    "format": {"ru": "--format: неизвестный формат {fmt!r}; допустимы: {known}",
               "en": "--format: unknown format {fmt!r}; expected one of {known}"},
    "extension": {"ru": "{output}: по расширению {suffix!r} формат не понять; используйте .md, .html или .docx "
                        "или укажите --format",
                  "en": "{output}: cannot tell the format from the extension {suffix!r}; use .md, .html or .docx, "
                        "or give --format"},
    "none": {"ru": "(нет)", "en": "(none)"},
    "lang": {"ru": "--lang: неизвестный язык {lang!r}; допустимы: {known}",
             "en": "--lang: unknown language {lang!r}; expected one of {known}"},
    "crm": {"ru": "--crm: неизвестная CRM {crm!r}; допустимы: {known}", "en": "--crm: unknown CRM {crm!r}; expected one of {known}"},
    "start_not_date": {"ru": "{file}: project_start — не дата", "en": "{file}: project_start is not a date"},
    "not_date": {"ru": "{text!r} — не дата вида YYYY-MM-DD", "en": "{text!r} is not a date in the form YYYY-MM-DD"},
    "decompose": {"ru": "план не раскладывается", "en": "the plan cannot be decomposed"},
}
