"""The public newsroom: what the public may see of items, listed, filtered, searched, fed."""
