"""A runnable demo site: a small coffee shop whose history is tracked by pghistory."""
