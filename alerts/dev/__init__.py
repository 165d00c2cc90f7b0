"""For development and the demo: seed data, the SMTP sink, the mailbox view."""
