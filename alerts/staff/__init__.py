"""Staff access: API keys, their roles and authentication."""
