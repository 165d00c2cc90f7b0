"""newsroom-alerts: email press alerts for a press office and the journalists who follow it."""

__version__ = "0.1.0"
