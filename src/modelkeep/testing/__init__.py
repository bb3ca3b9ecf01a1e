"""Conformance test suites shipped with modelkeep, for every backend of a seam to pass."""
