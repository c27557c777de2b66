"""The model that gives the history UI its place in the admin (no table of its own)."""

from pghistory.models import Events


class Event(Events):
    """Every event, as the admin's "History › Events" entry (a proxy of `Events`)."""

    class Meta:
        proxy = True
        verbose_name = "event"
        verbose_name_plural = "events"
        default_permissions = ()
