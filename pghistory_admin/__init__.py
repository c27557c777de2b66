"""The history UI: a site-wide event browser and export, in the Django admin and standalone."""
