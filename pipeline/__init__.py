"""finsent's data path: settings, database, ingest, scoring, detection, notification, CLI."""
