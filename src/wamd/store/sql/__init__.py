"""The SQL implementation shared by the SQLite and PostgreSQL stores (internal)."""
