"""All SQLite access: one module per noun, each returning plain dicts. Views hold no SQL."""
