"""The write-benchmark models, one source for both sides (ours and django-pghistory 3.9)."""
