"""The amoCRM seeder's old import path: it lives in `implkit/sandbox/amocrm/seed.py` now, beside the other
CRMs' seeders in their packages (issue 20, docs/sandbox.md "The shape of an emulated CRM").

`implkit.sandbox.seed` is that same module object (not a copy), so tests and benches that import or
monkeypatch it through the old path see exactly what the new path holds.
"""

import sys

from implkit.sandbox.amocrm import seed as _amocrm_seed

sys.modules[__name__] = _amocrm_seed
