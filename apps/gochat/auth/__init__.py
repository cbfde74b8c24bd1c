"""The auth service: accounts, e-mail confirmation, sessions (access JWT + rotating refresh
token), password reset and change, and the JWKS that api and ws verify access tokens with."""
