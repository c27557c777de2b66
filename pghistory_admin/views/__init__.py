"""The pages of the history UI, one module per kind of page; `base` holds what they share."""
