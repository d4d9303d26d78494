"""Deconfliction: target identifiers, the index of active entries, place and time overlap."""
