# ruff: noqa  (Sacred's code, kept as Sacred wrote it)
# From Sacred 0.8.x's examples directory (IDSIA/sacred, examples/named_config.py; MIT licence), unchanged:
# tests/sacred_suite runs it under Sacred and under experimentkit and compares.
#!/usr/bin/env python
# coding=utf-8
""" A very configurable Hello World. Yay! """
from __future__ import division, print_function, unicode_literals
from sacred import Experiment

ex = Experiment('hello_config')


@ex.named_config
def rude():
    """A rude named config"""
    recipient = "bastard"
    message = "Fuck off you {}!".format(recipient)


@ex.config
def cfg():
    recipient = "world"
    message = "Hello {}!".format(recipient)


@ex.automain
def main(message):
    print(__name__)
    print(message)
