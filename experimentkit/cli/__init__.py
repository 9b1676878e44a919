"""The ``experimentkit`` command: list, inspect, compare, annotate, export, plot and rerun runs."""
