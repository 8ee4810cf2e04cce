"""Repositories: every SQL statement of Mémoire lives in this package."""
