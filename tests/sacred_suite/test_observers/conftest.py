# Adapted from Sacred's tests/conftest.py (IDSIA/sacred, MIT licence): the ``tmpfile`` fixture the
# observer tests share.
import hashlib
import os
import tempfile

import pytest


@pytest.fixture
def tmpfile():
    # Created and closed by hand (not delete=True) so that observers can open it again.
    f = tempfile.NamedTemporaryFile(suffix=".py", delete=False)
    f.content = "import sacred\n"
    f.write(f.content.encode())
    f.flush()
    f.seek(0)
    f.md5sum = hashlib.md5(f.read()).hexdigest()
    f.close()
    yield f
    os.remove(f.name)
