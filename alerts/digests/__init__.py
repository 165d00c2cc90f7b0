"""Digests: plan, claim and record daily or weekly emails; their schedule and rendering."""
