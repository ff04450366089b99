"""Commands: to be filled by their issue."""
