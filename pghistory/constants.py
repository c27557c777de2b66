"""Sentinels and names shared across the tracking core."""

import enum


class Unset(enum.Enum):
    """The type of `UNSET`."""

    token = 0


class Default(enum.Enum):
    """The type of `DEFAULT`."""

    token = 0


#: An argument that was not given; the setting decides.
UNSET = Unset.token

#: A field attribute that keeps the value of the tracked field.
DEFAULT = Default.token

#: The trigger row that a tracker stores.
New = "NEW"
Old = "OLD"

#: Transaction-local Postgres settings through which the context reaches the triggers.
CONTEXT_ID_SETTING = "pghistory.context_id"
CONTEXT_METADATA_SETTING = "pghistory.context_metadata"
