"""Integrations with other frameworks, each an app of its own to add to `INSTALLED_APPS`."""
