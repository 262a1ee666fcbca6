"""Everything the jobs write: atomically, so a reader never sees half a file."""
