"""`import slm_lab.analysis` stays cheap: no plotting library, torch or pandas until used."""

from __future__ import annotations

import subprocess
import sys


def test_package_import_is_lazy():
    code = (
        "import sys, slm_lab.analysis as a\n"
        "heavy = [m for m in ('matplotlib', 'plotly', 'torch', 'pandas', 'gymnasium') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(a.session_end) and callable(a.iqm)\n"
        "assert 'matplotlib' not in sys.modules and 'plotly' not in sys.modules and 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_name_is_an_attribute_error():
    import pytest

    import slm_lab.analysis as a

    with pytest.raises(AttributeError):
        a.no_such_thing  # noqa: B018
