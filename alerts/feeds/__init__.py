"""Newsroom feed ingest: poll RSS/Atom feeds and turn each new entry into an item, once."""
