"""Sentinels and names shared across the tracking core."""


class _Sentinel:
    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __bool__(self) -> bool:
        return False


#: An argument that was not given; the setting decides.
UNSET = _Sentinel("UNSET")

#: A field attribute that keeps the value of the tracked field.
DEFAULT = _Sentinel("DEFAULT")

#: The trigger row that a tracker stores.
New = "NEW"
Old = "OLD"

#: Transaction-local Postgres settings through which the context reaches the triggers.
CONTEXT_ID_SETTING = "pghistory.context_id"
CONTEXT_METADATA_SETTING = "pghistory.context_metadata"
