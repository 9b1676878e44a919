"""TinyDB + HashFS storage of runs in Sacred's ``TinyDbObserver`` layout (a JSON file and a folder)."""
