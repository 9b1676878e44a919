"""File storage backend: Sacred's directory layout (``observer`` writes, ``schema`` describes)."""
