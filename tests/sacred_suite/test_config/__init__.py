"""Sacred 0.8.7's tests/test_config, ported (see ../conftest.py)."""
