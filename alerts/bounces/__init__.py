"""Bounces and complaints: parse what comes back, record it, the SMTP receiver."""
