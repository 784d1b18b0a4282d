"""The review console: `policygen serve`'s web pages at /console/ (jobs, policies, evidence)."""

from policygen.server.console.views import console_routes

__all__ = ["console_routes"]
