"""HTTP routes of the auth service: thin handlers that call the service functions."""
