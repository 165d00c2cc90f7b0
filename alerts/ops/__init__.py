"""What operators look at: the status snapshot and its rendering."""
