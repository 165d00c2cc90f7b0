"""Journalists: membership (sign-up, confirm, preferences, erase) and subscriptions."""
