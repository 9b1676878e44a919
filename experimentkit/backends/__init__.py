"""Storage backends: one package per technology, with a write side (observer) and a read side."""
