"""Sacred 0.8.7's own tests of its public API, ported to experimentkit (see conftest.py)."""
