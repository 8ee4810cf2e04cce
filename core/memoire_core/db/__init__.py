"""Database access: the schema, the engine and the repositories that hold all SQL."""
