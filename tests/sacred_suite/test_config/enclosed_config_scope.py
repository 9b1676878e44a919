# ruff: noqa  (Sacred's code, kept as Sacred wrote it)
# Ported from Sacred 0.8.7 (IDSIA/sacred, tag 0.8.7, tests/test_config/enclosed_config_scope.py; MIT licence; IDSIA/sacred repository, the sdist ships no tests/test_config):
# Sacred's own test, with imports renamed from ``sacred`` to ``experimentkit``; lines changed for the port say
# ``# port:`` and why. Deliberate differences are xfail(strict=True) with the reason (docs/sacred-differences.md).
# coding=utf-8


from experimentkit.config.config_scope import ConfigScope

SIX = 6


@ConfigScope
def cfg():
    answer = 7 * SIX


@ConfigScope
def cfg2():
    answer = 6 * SEVEN
