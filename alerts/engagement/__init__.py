"""What a release achieved: click-through links, machine clicks told apart, per-item reports."""
