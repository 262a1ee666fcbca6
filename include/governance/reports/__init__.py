"""Reports for people: the data-quality page (HTML, self-contained, printable)."""
