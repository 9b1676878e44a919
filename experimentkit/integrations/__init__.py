"""Adapters between experimentkit runs and training frameworks, one module per framework.

``lightning`` (``ExperimentkitLogger``), ``keras`` and ``transformers`` (``ExperimentkitCallback``),
``torch`` (one run for the ranks of ``torch.distributed``) and ``system`` (CPU/memory/disk/network/GPU
metrics).  Each module imports its framework only when used, and nothing here is imported by
``import experimentkit``.
"""
