"""Catalog schema revisions, oldest first. A revision never imports skyvault code: it must stay as written."""
