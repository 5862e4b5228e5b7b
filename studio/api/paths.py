"""Where the API lives on the studio's server."""

API_PREFIX = "/api/v1"
