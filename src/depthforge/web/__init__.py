"""Web UI and HTTP API."""
