"""The operator's console: the Django admin pages, the company file and the demo set-up.

It composes the whole product, so it sits above every other package (import-linter's layers in
pyproject.toml): console → sync → mappings | audit → connector. Nothing imports console.
"""
