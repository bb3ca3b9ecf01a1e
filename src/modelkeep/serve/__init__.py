"""Model serving (filled in by issue 5)."""
