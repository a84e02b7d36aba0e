"""The security reference monitor: access tokens (token.py) and the token and access-check system services
(services.py)."""
