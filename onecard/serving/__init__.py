"""Running the platform for real: the production server (gunicorn), JSON logs, metrics, backup and restore,
key rotation, and the CLI commands that drive them (``onecard serve|backup|restore|rotate-keys``).

Nothing here handles a request: the HTTP side of observability (/readyz, /metrics, per-request timing) is
web plumbing and lives in ``onecard.web.observe``; this package holds what it reads and what the server
process is configured with.
"""
