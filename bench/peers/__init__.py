"""Peers measured beside us: other mailing software sending one message to N members.

See bench/README.md (``python -m bench.peers``).
"""
