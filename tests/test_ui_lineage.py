"""The lineage in the history UI, through real HTTP: the "where" of a job's or a command's
events, the jobs a request started, everything it caused, and a job's way back to its
request. Job contexts are written as the integrations write them (the metadata contract of
the README's "Background jobs and commands"), around real writes."""

import csv
import io
import re
import uuid
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import pghistory
from example_project.shop.models import Customer, Product
from pghistory.models import Context, Events
from tests.html import column, event_rows

pytestmark = pytest.mark.django_db(transaction=True)

SURFACES = ["/history/", "/admin/pghistory_ui/event/"]


class _Elements(HTMLParser):
    """Every element with a class, as (its attributes, its text)."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[dict, list[str]]] = []
        self._open: list[tuple[str, list[list[str]]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        texts = [text for _, owners in self._open for text in owners]
        if attrs.get("class"):
            entry = (attrs, [])
            self.found.append(entry)
            texts = [*texts, entry[1]]
        if tag not in ("br", "input", "img", "meta", "link"):
            self._open.append((tag, texts))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._open:
            for text in {id(t): t for t in self._open[-1][1]}.values():
                text.append(data)


def elements(html: bytes, css_class: str) -> list[tuple[str, str | None]]:
    """(text, href) of each element with `css_class`, in page order."""
    parser = _Elements()
    parser.feed(html.decode())
    return [
        (re.sub(r"\s+", " ", "".join(text)).strip(), attrs.get("href"))
        for attrs, text in parser.found
        if css_class in attrs["class"].split()
    ]


def job_rows(html: bytes) -> list[tuple[str, str, str, str, str]]:
    """The jobs list: (name, its link, when, who, events) per row."""
    names = elements(html, "pgh-job-name")
    links = elements(html, "pgh-job")
    times = elements(html, "pgh-job-time")
    users = elements(html, "pgh-job-user")
    counts = elements(html, "pgh-job-events")
    return [
        (name[0], link[1], when[0], who[0], count[0])
        for name, link, when, who, count in zip(names, links, times, users, counts, strict=True)
    ]


def dl(html: bytes, css_class: str = "pgh-context-meta") -> dict[str, str]:
    """A definition list of the page as {label: text}."""
    match = re.search(rf'<dl class="{css_class}"[^>]*>(.*?)</dl>', html.decode(), re.S)
    assert match is not None
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", match.group(1), re.S)
    return {
        label: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", value)).strip() for label, value in pairs
    }


def clock(context_id) -> str:
    moment = Context.objects.get(pk=context_id).created_at
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def listed(shop, key, name, surface="/history/"):
    """The jobs list's row of Alice's job `shop[key]`, which wrote one event."""
    return (name, f"{surface}context/{shop[key]}/", clock(shop[key]), "alice", "1")


def slugs(**filters):
    events = Events.objects.filter(**filters).order_by("-pgh_created_at", "-pgh_model", "-pgh_id")
    return list(events.values_list("pgh_slug", flat=True))


def staff(django_user_model, username, *perms):
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def job(parent, task, user=None, **extra):
    """A job's context as the integrations write it: enqueued from `parent` (a `Context`
    row's id, or a dict for a request that wrote nothing: {"id": ..., "metadata": ...})."""
    if isinstance(parent, dict):
        parent_id, parent_metadata = parent["id"], parent["metadata"]
    else:
        parent_id = parent
        parent_metadata = Context.objects.get(pk=parent).metadata
    origin = parent_metadata.get("origin") or str(parent_id)
    metadata = {
        "task": task,
        "task_id": str(uuid.uuid4()),
        "parent": str(parent_id),
        "origin": origin,
        "parent_metadata": parent_metadata,
        **extra,
    }
    if user is not None:
        metadata["user"] = user
    return pghistory.context(**metadata)


@pytest.fixture
def shop(django_user_model):
    """A request by Alice creates tea and enqueues two jobs: one restocks the tea (and its
    retry changes the price), one marks a customer VIP. A request that wrote nothing itself
    enqueued a third job. A command and a shell session change products too."""
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    alice = staff(django_user_model, "alice", "view_product", "view_customer")
    with pghistory.context(user=alice.pk, url="/shop/products/new/") as request:
        tea = Product.objects.create(
            name="Sencha", sku="T-1", price=Decimal("4.50"), stock=10, category="tea"
        )
    with job(request.id, "shop.tasks.restock", user=alice.pk) as restock:
        Product.objects.filter(pk=tea.pk).update(stock=25)
    with job(restock.id, "shop.tasks.restock", user=alice.pk, retries=1) as retry:
        Product.objects.filter(pk=tea.pk).update(price=Decimal("4.20"))
    with job(request.id, "shop.tasks.make_vip", user=alice.pk) as vip:
        ada = Customer.objects.create(name="Ada", email="ada@example.com", is_vip=True)
    quiet = {"id": uuid.uuid4(), "metadata": {"user": alice.pk, "url": "/shop/import/"}}
    with job(quiet, "shop.tasks.import_catalogue", user=alice.pk) as imported:
        Product.objects.create(
            name="Hojicha", sku="T-2", price=Decimal("5.00"), stock=3, category="tea"
        )
    with pghistory.context(command="restock", argv=["--count", "5"], os_user="deploy") as cmd:
        Product.objects.filter(pk=tea.pk).update(stock=30)
    with pghistory.context(command="shell", argv=[], os_user="alice") as shell:
        Product.objects.filter(pk=tea.pk).update(stock=31)
    return {
        "root": root,
        "alice": alice,
        "tea": tea,
        "ada": ada,
        "request": request.id,
        "restock": restock.id,
        "retry": retry.id,
        "vip": vip.id,
        "quiet": quiet["id"],
        "imported": imported.id,
        "command": cmd.id,
        "shell": shell.id,
    }


# -- The "where" of a job's or a command's events --------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_the_where_column_names_the_task_command_or_shell(client, shop, surface):
    client.force_login(shop["root"])

    response = client.get(f"{surface}?model=shop.product")

    rows = event_rows(response.content)
    where = {row["event"]: row["Where"] for row in rows}
    short = {key: str(value)[:8] for key, value in shop.items() if isinstance(value, uuid.UUID)}
    assert [where[slug] for slug in slugs(pgh_obj_model="shop.Product")] == [
        f"shell (alice) {short['shell']}",
        f"manage.py restock --count 5 {short['command']}",
        f"task shop.tasks.import_catalogue {short['imported']}",
        f"task shop.tasks.restock retries: 1 {short['retry']}",
        f"task shop.tasks.restock {short['restock']}",
        f"/shop/products/new/ {short['request']}",
    ]
    assert elements(response.content, "pgh-task") == [
        ("task shop.tasks.import_catalogue", f"{surface}context/{shop['imported']}/"),
        ("task shop.tasks.restock", f"{surface}context/{shop['retry']}/"),
        ("task shop.tasks.restock", f"{surface}context/{shop['restock']}/"),
    ]
    assert elements(response.content, "pgh-command") == [("manage.py restock --count 5", None)]
    assert elements(response.content, "pgh-shell") == [("shell (alice)", None)]


def test_a_script_bearing_task_or_command_is_shown_as_text(client, shop):
    with job(shop["request"], "<script>alert(1)</script>"):
        Product.objects.filter(pk=shop["tea"].pk).update(stock=40)
    with pghistory.context(command="<b>x</b>", argv=["<img src=x onerror=alert(2)>"]):
        Product.objects.filter(pk=shop["tea"].pk).update(stock=41)
    client.force_login(shop["root"])

    html = client.get("/history/?model=shop.product").content

    assert b"<script>alert(1)" not in html and b"<img src=x" not in html
    assert b"task &lt;script&gt;alert(1)&lt;/script&gt;</a>" in html
    assert b"manage.py &lt;b&gt;x&lt;/b&gt; &lt;img src=x onerror=alert(2)&gt;</code>" in html


def test_the_timeline_and_the_event_page_name_the_task(client, shop):
    client.force_login(shop["root"])
    tea = shop["tea"].pk
    (restock_slug,) = slugs(pgh_context_id=shop["restock"])

    timeline = client.get(f"/history/object/shop.product/{tea}/").content
    event = client.get(f"/history/event/{restock_slug}/").content

    assert elements(timeline, "pgh-task") == [
        ("task shop.tasks.restock", f"/history/context/{shop['retry']}/"),
        ("task shop.tasks.restock", f"/history/context/{shop['restock']}/"),
    ]
    assert elements(timeline, "pgh-shell") == [("shell (alice)", None)]
    assert elements(event, "pgh-task") == [
        ("task shop.tasks.restock", f"/history/context/{shop['restock']}/")
    ]


# -- A request's page: the jobs it started ---------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_a_requests_page_lists_its_jobs_newest_first(client, shop, surface):
    client.force_login(shop["root"])

    html = client.get(f"{surface}context/{shop['request']}/").content

    assert job_rows(html) == [
        listed(shop, "vip", "task shop.tasks.make_vip", surface),
        listed(shop, "restock", "task shop.tasks.restock", surface),
    ]
    assert elements(html, "pgh-caused-link") == [
        (
            "Everything this caused, its jobs' events included",
            f"{surface}context/{shop['request']}/caused/",
        )
    ]
    # Its own events are the table's, as before.
    assert [row["event"] for row in event_rows(html)] == slugs(pgh_context_id=shop["request"])


def test_a_context_without_jobs_lists_none(client, shop):
    client.force_login(shop["root"])

    html = client.get(f"/history/context/{shop['command']}/").content

    assert job_rows(html) == []
    assert elements(html, "pgh-caused-link") == []
    assert dl(html)["Command"] == "restock"
    assert dl(html)["Arguments"] == "--count 5"
    assert dl(html)["OS user"] == "deploy"


def test_a_job_lists_its_retry_as_a_job_of_its_own(client, shop):
    client.force_login(shop["root"])

    html = client.get(f"/history/context/{shop['restock']}/").content

    assert job_rows(html) == [
        listed(shop, "retry", "task shop.tasks.restock"),
    ]


def test_a_request_that_wrote_nothing_has_a_page_from_its_jobs(client, shop):
    client.force_login(shop["root"])

    html = client.get(f"/history/context/{shop['quiet']}/").content

    assert dl(html) == {
        "Context id": str(shop["quiet"]),
        "User": "alice",
        "URL": "/shop/import/",
        "Events": "none of its own (it wrote nothing itself: its jobs recorded its metadata)",
    }
    assert event_rows(html) == []
    assert job_rows(html) == [
        listed(shop, "imported", "task shop.tasks.import_catalogue"),
    ]


def test_a_context_that_neither_exists_nor_has_jobs_is_not_found(client, shop):
    client.force_login(shop["root"])

    assert client.get(f"/history/context/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"/history/context/{uuid.uuid4()}/caused/").status_code == 404


# -- A job's page: the way back --------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_a_jobs_page_links_to_its_parent_and_its_origin(client, shop, surface):
    client.force_login(shop["root"])

    html = client.get(f"{surface}context/{shop['retry']}/").content

    assert dl(html) == {
        "Context id": str(shop["retry"]),
        "User": "alice",
        "Task": "shop.tasks.restock",
        "Task id": Context.objects.get(pk=shop["retry"]).metadata["task_id"],
        "Enqueued from": str(shop["restock"]),
        "Origin": str(shop["request"]),
        "retries": "1",
        "Created": clock(shop["retry"]),
        "Updated": timezone.localtime(Context.objects.get(pk=shop["retry"]).updated_at).strftime(
            "%Y-%m-%d %H:%M:%S"
        ),
        "Events": f"1, at {clock(shop['retry'])}",
    }
    assert elements(html, "pgh-parent") == [
        (str(shop["restock"]), f"{surface}context/{shop['restock']}/")
    ]
    assert elements(html, "pgh-origin") == [
        (str(shop["request"]), f"{surface}context/{shop['request']}/")
    ]
    # The parent wrote events of its own: no recorded copy of its metadata is shown.
    assert b"pgh-parent-meta" not in html


def test_a_jobs_page_shows_the_metadata_of_a_parent_that_wrote_nothing(client, shop):
    client.force_login(shop["root"])

    html = client.get(f"/history/context/{shop['imported']}/").content

    assert "The context this job was enqueued from wrote nothing itself" in html.decode()
    assert dl(html, "pgh-parent-meta") == {"User": "alice", "URL": "/shop/import/"}
    assert elements(html, "pgh-parent") == [
        (str(shop["quiet"]), f"/history/context/{shop['quiet']}/")
    ]


# -- Everything a request caused -------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_everything_a_request_caused_is_its_events_and_its_jobs(client, shop, surface):
    client.force_login(shop["root"])

    response = client.get(f"{surface}context/{shop['request']}/caused/")

    assert response.status_code == 200
    caused = [shop["request"], shop["restock"], shop["retry"], shop["vip"]]
    assert [row["event"] for row in event_rows(response.content)] == slugs(
        pgh_context_id__in=caused
    )
    assert [(row["What"], row["Object"]) for row in event_rows(response.content)] == [
        ("insert", "Customer Ada <ada@example.com>"),
        ("update", "Product Sencha (T-1)"),
        ("update", "Product Sencha (T-1)"),
        ("insert", "Product Sencha (T-1)"),
    ]
    assert column(response.content, "Changes")[1:3] == [
        "Price (EUR): 4.50 → 4.20",
        "Units in stock: 10 → 25",
    ]
    assert elements(response.content, "pgh-context-page") == [
        (f"context {str(shop['request'])[:8]}", f"{surface}context/{shop['request']}/")
    ]


def test_the_caused_page_takes_the_browsers_filters_and_pages(client, shop):
    client.force_login(shop["root"])
    page = f"/history/context/{shop['request']}/caused/"

    products = client.get(f"{page}?model=shop.product&sort=time").content

    assert [row["event"] for row in event_rows(products)] == slugs(
        pgh_context_id__in=[shop["request"], shop["restock"], shop["retry"]]
    )[::-1]


def test_the_caused_pages_export_holds_exactly_its_events(client, shop):
    client.force_login(shop["root"])
    page = client.get(f"/history/context/{shop['request']}/caused/").content

    (csv_link,) = [href for text, href in elements(page, "pgh-button") if text == "Export CSV"]
    assert csv_link == f"/history/export.csv?caused={shop['request']}"
    response = client.get(csv_link)
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    caused = [shop["request"], shop["restock"], shop["retry"], shop["vip"]]
    assert len(lines) == len(slugs(pgh_context_id__in=caused)) == 4


def test_a_jobs_caused_page_holds_its_retry_and_not_its_parent(client, shop):
    client.force_login(shop["root"])

    html = client.get(f"/history/context/{shop['restock']}/caused/").content

    assert [row["event"] for row in event_rows(html)] == slugs(
        pgh_context_id__in=[shop["restock"], shop["retry"]]
    )


def test_the_browsers_caused_filter_selects_the_same_events(client, shop):
    client.force_login(shop["root"])

    html = client.get(f"/history/?caused={shop['quiet']}").content

    assert [row["event"] for row in event_rows(html)] == slugs(pgh_context_id=shop["imported"])


def test_a_lineage_that_loops_ends(client, shop):
    # Metadata someone wrote by hand may name a descendant as parent: the walk stops.
    Context.objects.filter(pk=shop["request"]).update(
        metadata={"user": shop["alice"].pk, "url": "/", "parent": str(shop["retry"])}
    )
    client.force_login(shop["root"])

    html = client.get(f"/history/context/{shop['request']}/caused/").content

    assert len(event_rows(html)) == 4


@pytest.mark.parametrize(
    "query", ["caused=nope", "caused=%00", "caused=" + "1" * 40, "caused=<script>"]
)
def test_a_bad_caused_value_is_a_400_naming_it(client, shop, query):
    client.force_login(shop["root"])

    response = client.get(f"/history/?{query}")

    assert response.status_code == 400
    assert b"Enter a valid UUID." in response.content
    assert b"<script>" not in response.content


# -- Who sees what ----------------------------------------------------------------------------


def test_a_viewer_sees_only_jobs_and_events_of_models_they_may_see(
    client, shop, django_user_model
):
    products_only = staff(django_user_model, "pat", "view_product")
    client.force_login(products_only)

    page = client.get(f"/history/context/{shop['request']}/").content
    caused = client.get(f"/history/context/{shop['request']}/caused/").content

    # The VIP job wrote only a customer: it is not listed, and nothing names customers.
    assert [row[0] for row in job_rows(page)] == ["task shop.tasks.restock"]
    assert b"make_vip" not in page and b"ustomer" not in page
    assert [row["event"] for row in event_rows(caused)] == slugs(
        pgh_context_id__in=[shop["request"], shop["restock"], shop["retry"]]
    )
    assert b"ustomer" not in caused.split(b'class="pgh-filters"')[0]
    assert client.get(f"/history/context/{shop['vip']}/").status_code == 404
    assert client.get(f"/history/context/{shop['vip']}/caused/").status_code == 404


def test_a_request_whose_jobs_wrote_only_forbidden_models_is_not_found(
    client, shop, django_user_model
):
    with pghistory.context(user=shop["alice"].pk, url="/shop/customers/") as request:
        pass
    with job({"id": request.id, "metadata": {"url": "/shop/customers/"}}, "shop.tasks.vip"):
        Customer.objects.filter(pk=shop["ada"].pk).update(city="Oslo")
    products_only = staff(django_user_model, "pat", "view_product")
    client.force_login(products_only)

    assert client.get(f"/history/context/{request.id}/").status_code == 404
    assert client.get(f"/history/context/{request.id}/caused/").status_code == 404


# -- Bounded -----------------------------------------------------------------------------------


def test_the_jobs_list_costs_the_same_queries_for_two_jobs_or_twelve(client, shop):
    client.force_login(shop["root"])

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/history/context/{shop['request']}/").status_code == 200
        return len(captured)

    before = queries()
    for number in range(10):
        with job(shop["request"], f"shop.tasks.extra_{number}", user=shop["alice"].pk):
            Product.objects.filter(pk=shop["tea"].pk).update(stock=number)

    assert len(job_rows(client.get(f"/history/context/{shop['request']}/").content)) == 12
    assert queries() == before


def test_the_jobs_list_shows_the_newest_fifty(client, shop):
    for number in range(50):
        with job(shop["request"], f"shop.tasks.extra_{number:02}"):
            Product.objects.filter(pk=shop["tea"].pk).update(stock=number)
    client.force_login(shop["root"])

    html = client.get(f"/history/context/{shop['request']}/").content

    names = [row[0] for row in job_rows(html)]
    assert names == [f"task shop.tasks.extra_{number:02}" for number in range(49, -1, -1)]
    assert elements(html, "pgh-more-jobs")[0][0] == (
        "The newest 50 are listed; everything this caused shows the events of all of them."
    )


def test_the_api_selects_everything_a_request_caused(client, shop):
    client.force_login(shop["root"])

    page = client.get(f"/history/api/events/?caused={shop['request']}").json()

    caused = [shop["request"], shop["restock"], shop["retry"], shop["vip"]]
    assert [event["slug"] for event in page["results"]] == slugs(pgh_context_id__in=caused)
