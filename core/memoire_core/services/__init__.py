"""Use cases of the core; each takes an open session and leaves committing to its caller."""
