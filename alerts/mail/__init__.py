"""Email: rendering, the per-item skeleton, DKIM, the SMTP transport, account emails."""
