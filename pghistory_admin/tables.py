"""The event browser's table: one row per event, newest first."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable

import django_tables2 as tables
from django.templatetags import l10n
from django.utils import timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from pghistory_admin.rows import EventRow

#: Labels with a colour of their own; any other label gets the "custom" colour.
LABEL_CLASSES = {"insert": "insert", "update": "update", "delete": "delete"}


def label_badge(label: str):
    kind = LABEL_CLASSES.get(label, "custom")
    return format_html('<span class="pgh-label pgh-label-{}">{}</span>', kind, label)


def local_time(moment):
    """The date, and the time of day below it, in the current time zone (in the moment's
    own offset at the ends of time, where the current time zone cannot be reached)."""
    try:
        local = timezone.localtime(moment)
    except (OverflowError, ValueError):
        local = moment
    return format_html(
        '<time datetime="{}">{} <span class="pgh-clock">{}</span></time>',
        moment.isoformat(),
        local.strftime("%Y-%m-%d"),
        local.strftime("%H:%M:%S"),
    )


#: The rows' attributes (`Meta.row_attrs`): each row names its event.
ROW_ATTRS = {"data-event": lambda record: record.slug}


def cell_attrs(name: str, header: str) -> dict:
    """A column's `attrs`: its cells' class, and the `data-label` that names a cell when
    narrow screens show each row as a card. Give a column added in a subclass the same
    (`attrs=cell_attrs("price", "Price")`) to have it shown so there too."""
    return {"td": {"class": f"pgh-cell-{name}", "data-label": header}}


def _column(header: str, name: str, **kwargs) -> tables.Column:
    # Every cell is rendered by the table's render_<name>(record), empty values included.
    return tables.Column(
        verbose_name=header, attrs=cell_attrs(name, header), empty_values=(), **kwargs
    )


class EventTable(tables.Table):
    """Events as rows: when, who, what, which object, what changed and from where.

    Each record is an `EventRow` (`pghistory_admin.rows`). Cells go through django-tables2's
    own pipeline, so a subclass adds any column as its docs say (a `Column` with an
    accessor into the row, a `TemplateColumn`, a `LinkColumn`, a `render_<name>` method)
    and `Meta.row_attrs`. `link(page, *args, **params)` builds the URL of a page of the UI,
    so that each user, object and context in the table links to its own page.
    """

    time = _column("When", "time", accessor="created_at", order_by=("created_at",))
    user = _column("Who", "user", accessor="user_name", orderable=False)
    label = _column("What", "label", orderable=False)
    model = _column("Object", "model", accessor="model_label", order_by=("model_label",))
    changes = _column("Changes", "changes", orderable=False)
    where = _column("Where", "where", orderable=False)

    class Meta:
        template_name = "pghistory_admin/table.html"
        order_by_field = "sort"
        attrs = {"class": "pgh-events", "id": "pgh-events"}
        row_attrs = ROW_ATTRS
        empty_text = "No events match these filters."

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _remember_signatures(cls)

    def __init__(self, data: list[EventRow], *, link: Callable[..., str], **kwargs):
        self.link = link
        super().__init__(data, **kwargs)

    def row_html(self, row) -> str:
        """A row (a django-tables2 `BoundRow`) as HTML: its `row_attrs`, and each cell as
        django-tables2 renders it (accessors, `render_<name>`, template and link columns,
        `localize`) in its column's cell attributes: the HTML of django-tables2's own row
        template, without the template's work per cell.

        A built-in column that nothing changed (this class's `render_<name>`, which reads
        only the record, on a column that renders empty values too, with no link and no
        localization) is rendered by calling that method, which is what django-tables2's
        pipeline would end with; every other cell goes through the pipeline."""
        record, cells = row.record, []
        for column in self.columns:
            own = self._own_renderer(column)
            if own is not None:
                cell = own(record)
            else:
                # What BoundRow.items() does: cell attributes computed from the row read them.
                cell = column.current_value = row.get_cell(column.name)
                column.current_record = record
                cell = _localized(column, cell)
            cells.append(f"<td {self.cell_attrs(column)}>{conditional_escape(cell)}</td>")
        if self.row_attrs == ROW_ATTRS:  # then this is what row.attrs.as_html() gives
            attrs = format_html(
                'data-event="{}" class="{}"', record.slug, row.get_even_odd_css_class()
            )
        else:
            attrs = row.attrs.as_html()
        # The attributes are escaped by format_html or django-tables2's AttributeDict.
        return mark_safe(f"<tr {attrs}>{''.join(cells)}</tr>")  # noqa: S308

    def _own_renderer(self, column):
        """This class's `render_<name>` for a built-in column nothing changed, else None."""
        cache = self.__dict__.setdefault("_own_renderers", {})
        if column.name not in cache:
            method = f"render_{column.name}"
            unchanged = (
                getattr(EventTable, method, None) is not None
                and getattr(type(self), method) is getattr(EventTable, method)
                and column.column.empty_values == ()
                and column.link is None
                and column.localize is None
            )
            cache[column.name] = getattr(self, method) if unchanged else None
        return cache[column.name]

    def cell_attrs(self, column) -> str:
        """The attributes of a cell of `column` (a bound column) as HTML: django-tables2's
        own, worked out once per column when they do not depend on the row (as the built-in
        columns' do not), else for each cell."""
        cache = self.__dict__.setdefault("_cell_attrs", {})
        if column.name not in cache:
            attrs = {**self.attrs, **column.column.attrs}
            td = attrs.get("td", attrs.get("cell", {}))
            static = not any(callable(value) for value in td.values())
            cache[column.name] = column.attrs["td"].as_html() if static else None
        return cache[column.name] or column.attrs["td"].as_html()

    def render_time(self, record: EventRow):
        return local_time(record.created_at)

    def render_user(self, record: EventRow):
        if record.user_key is None:
            return "—"
        return format_html(
            '<a class="pgh-user" href="{}">{}</a>',
            self.link("user", record.user_key),
            record.user_name,
        )

    def render_label(self, record: EventRow):
        return label_badge(record.label)

    def render_model(self, record: EventRow):
        if record.object_key is None:
            return record.model_name
        state = "" if record.object_exists else mark_safe(' <span class="pgh-gone">deleted</span>')
        return format_html(
            '<span class="pgh-model">{}</span> <a class="pgh-object" href="{}">{}</a>{}',
            record.model_name,
            self.link("object", *record.object_key.split(":", 1)),
            record.object_name,
            state,
        )

    def render_changes(self, record: EventRow):
        if not record.changes:
            return ""
        return format_html(
            '<ul class="pgh-changes">{}</ul>',
            format_html_join(
                "",
                "<li>{}</li>",
                ((_change_summary(change),) for change in record.changes),
            ),
        )

    def render_where(self, record: EventRow):
        parts = []
        if record.url:
            parts.append(format_html('<code class="pgh-url">{}</code>', record.url))
        source = record.source
        if source is not None and source.kind == "task" and record.context_id is not None:
            parts.append(
                format_html(
                    '<a class="pgh-task" href="{}" title="This job and what it caused">{}</a>',
                    self.link("context", record.context_id),
                    source.text,
                )
            )
        elif source is not None:
            parts.append(format_html('<code class="pgh-{}">{}</code>', source.kind, source.text))
        for key, value in sorted(record.other_metadata.items()):
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            parts.append(format_html('<span class="pgh-meta">{}: {}</span>', key, shown))
        if record.context_id is not None:
            parts.append(
                format_html(
                    '<a class="pgh-context" href="{}" title="All events of this context">{}</a>',
                    self.link("context", record.context_id),
                    str(record.context_id)[:8],
                )
            )
        return format_html_join(" ", "{}", ((part,) for part in parts))


def _localized(column, cell):
    """A cell's content as django-tables2's template shows it: localized or not as its
    column says (`Column(localize=...)`), as is by default."""
    if column.localize is None:
        return cell
    return (l10n.localize if column.localize else l10n.unlocalize)(cell)


def _remember_signatures(table_class: type[tables.Table]) -> None:
    """Give the table's `render_<name>` and `value_<name>` methods their signature once:
    django-tables2 reads a method's signature on every cell to know which arguments it
    takes, and a stored `__signature__` spares `inspect` working it out again each time
    (a tenth of a page's time)."""
    for name, member in vars(table_class).items():
        if name.startswith(("render_", "value_")) and inspect.isfunction(member):
            member.__signature__ = inspect.signature(member)


_remember_signatures(EventTable)


def _change_summary(change):
    if not change.is_short:
        return format_html('<span class="pgh-field">{}</span>', change.label)
    return format_html(
        '<span class="pgh-field">{}</span>: <del>{}</del> → <ins>{}</ins>',
        change.label,
        change.old_display,
        change.new_display,
    )
