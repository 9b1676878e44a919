"""A small read-only web dashboard over a run store (``experimentkit serve``), on the standard
library only.

``app.handle`` is the whole application as a function of the request; ``server`` puts it behind
``http.server``; ``pages`` renders HTML (everything escaped) and ``svg`` draws the charts.
"""
