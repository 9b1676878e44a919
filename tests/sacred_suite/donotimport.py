"""Found by ``module_exists`` in the ported test_utils.py, which must not import it."""

raise ImportError("module_exists must find this module without importing it")
