"""What the workspace tells a user (implkit.yaml, tenants, locks, URLs' neighbours), in Russian and English:
messages as data, apart from workspace/core.py's logic."""

MESSAGES = {
    "invalid_file": {"ru": "{file}: недопустимый файл рабочей папки", "en": "{file}: invalid workspace file"},
    "no_workspace": {"ru": "{file}: здесь нет рабочей папки implkit; создайте её: `implkit init {folder}`",
                     "en": "{file}: no implkit workspace here; create one with `implkit init {folder}`"},
    "none_found": {"ru": "рабочая папка implkit не найдена ни в {start}, ни выше; выполните там `implkit init`, "
                         "укажите --workspace ПАПКА или задайте {env}",
                   "en": "no implkit workspace found in {start} or above; run `implkit init` there, "
                         "pass --workspace DIR, or set {env}"},
    "unknown_tenant": {"ru": "нет клиента (tenant) {name!r} в {file}", "en": "unknown tenant {name!r} in {file}"},
    "known_tenants": {"ru": "известны: {known}", "en": "known: {known}"},
    "no_tenants": {"ru": "пока ни одного — добавьте: `implkit tenant add`",
                   "en": "none yet — add one with `implkit tenant add`"},
    "shares_unknown": {"ru": "shares_account_with называет {shares!r}, но такого другого тенанта здесь нет",
                       "en": "shares_account_with names {shares!r}, which is not another tenant here"},
    "shares_no_tenant": {"ru": "--shares-account-with {shares!r}: такого клиента нет в {file}",
                         "en": "--shares-account-with {shares!r}: no such tenant in {file}"},
    "bad_name": {"ru": "недопустимое имя клиента {name!r}: строчные латинские буквы, цифры, «.», «_» и «-» "
                       "(это имя папки)",
                 "en": "invalid tenant name {name!r}: use lower-case letters, digits, '.', '_' and '-' "
                       "(it names a folder)"},
    "taken": {"ru": "клиент {name!r} уже есть в {file}; сначала удалите его: `implkit tenant remove {name}`",
              "en": "tenant {name!r} already exists in {file}; remove it first with `implkit tenant remove {name}`"},
    "unknown_provider": {"ru": "неизвестная CRM {provider!r} (одна из: {known})",
                         "en": "unknown provider {provider!r} (one of {known})"},
    "rate_limit": {"ru": "--rate-limit: нужно положительное число запросов в секунду",
                   "en": "--rate-limit must be a positive number of requests per second"},
    "locked": {"ru": "клиент {name!r} заблокирован ({holder}); сначала снимите блокировку",
               "en": "tenant {name!r} is locked ({holder}); unlock it first"},
    "exists_already": {"ru": "{file} уже есть: рабочая папка уже создана; ничего не изменено",
                       "en": "{file} already exists: this is a workspace already; nothing was changed"},
    "not_folder": {"ru": "{root}: это не папка", "en": "{root}: not a folder"},
    "unknown_check": {"ru": "нет проверки {check!r} (известны: {known})",
                      "en": "no check {check!r} (known: {known})"},
}
