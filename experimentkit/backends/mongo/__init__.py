"""MongoDB backend: ``observer`` writes runs in Sacred's layout, ``schema`` describes that layout.

Nothing here imports pymongo until an observer is built.
"""
