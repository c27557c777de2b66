"""CSV and JSON Lines exports: exactly the events the filters show, one readable row each,
safe to open in a spreadsheet."""

import csv
import datetime
import io
import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import pghistory
from example_project.shop.models import Customer, Order, OrderLine, Product
from pghistory.models import Events
from pghistory_admin import export

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "time,user,label,model,object_id,object,changed_fields,diff,url,context_id"


@pytest.fixture
def root(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(user)
    return user


def download(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def event(obj, label):
    return Events.objects.tracks(obj).filter(pgh_label=label).get()


def test_csv_has_one_readable_line_per_event_in_the_browsers_order(client, root):
    with pghistory.context(user=root.pk, url="/shop/products/new/") as request:
        tea = Product.objects.create(
            name="Sencha", sku="T-1", price=Decimal("4.50"), stock=10, category="tea"
        )
    Product.objects.filter(pk=tea.pk).update(price=Decimal("3.83"), stock=8)
    insert, update = event(tea, "insert"), event(tea, "update")

    response = client.get("/history/export.csv", {"model": "shop.product"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="events-')
    assert download(response).splitlines() == [
        HEADER,
        f"{update.pgh_created_at.isoformat()},,update,shop.Product,{tea.pk},Sencha (T-1),"
        '"price, stock","{""price"": [4.5, 3.83], ""stock"": [10, 8]}",,',
        f"{insert.pgh_created_at.isoformat()},root,insert,shop.Product,{tea.pk},Sencha (T-1),"
        f",,/shop/products/new/,{request.id}",
    ]


def test_export_follows_the_filters_and_the_sort(client, root):
    Customer.objects.create(name="Ada", email="ada@example.com")
    Product.objects.create(name="A", sku="A", price=1, category="tea")
    Product.objects.create(name="B", sku="B", price=1, category="tea")

    newest_first = download(client.get("/history/export.csv", {"model": "shop.product"}))
    oldest_first = download(
        client.get("/history/export.csv", {"model": "shop.product", "sort": "time"})
    )

    objects = [row["object"] for row in csv.DictReader(io.StringIO(newest_first))]
    assert objects == ["B (B)", "A (A)"]
    assert [row["object"] for row in csv.DictReader(io.StringIO(oldest_first))] == [
        "A (A)",
        "B (B)",
    ]


def test_cells_a_spreadsheet_would_run_are_neutralised(client, root):
    customer = Customer.objects.create(name='=HYPERLINK("http://evil")', email="e@example.com")
    Customer.objects.filter(pk=customer.pk).update(city="@SUM(A1)", notes="-2+3")

    rows = list(
        csv.DictReader(io.StringIO(download(client.get("/history/export.csv", {"q": "evil"}))))
    )
    updated = list(
        csv.DictReader(
            io.StringIO(download(client.get("/history/export.csv", {"label": "update"})))
        )
    )

    assert [row["object"] for row in rows] == ['\'=HYPERLINK("http://evil") <e@example.com>']
    assert json.loads(updated[0]["diff"]) == {"city": ["", "@SUM(A1)"], "notes": ["", "-2+3"]}
    assert updated[0]["object"].startswith("'=")


def test_jsonl_has_one_object_per_event(client, root):
    tea = Product.objects.create(name="Sencha", sku="T-1", price=Decimal("4.50"), category="tea")
    insert = event(tea, "insert")

    response = client.get("/history/export.jsonl", {"model": "shop.product"})

    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert [json.loads(line) for line in download(response).splitlines()] == [
        {
            "time": insert.pgh_created_at.isoformat(),
            "user": "",
            "label": "insert",
            "model": "shop.Product",
            "object_id": str(tea.pk),
            "object": "Sencha (T-1)",
            "changed_fields": [],
            "diff": {},
            "url": "",
            "context_id": "",
        }
    ]


def test_export_streams_every_matching_event_not_just_one_page(client, root):
    Product.objects.bulk_create(
        Product(name=f"P{i}", sku=f"S{i}", price=1, category="tea") for i in range(4500)
    )

    response = client.get("/history/export.csv", {"model": "shop.product"})

    assert response.streaming
    assert len(download(response).splitlines()) == 4501


def test_chunks_name_each_object_once_and_keep_the_browsers_order(client, root, monkeypatch):
    monkeypatch.setattr(export, "CHUNK", 2)
    tea = Product.objects.create(name="Sencha", sku="T-1", price=1, category="tea")
    gone = Product.objects.create(name="Matcha", sku="T-2", price=1, category="tea")
    for stock in (1, 2, 3):
        Product.objects.filter(pk=tea.pk).update(stock=stock)
    gone.delete()
    expected = [
        (event.pgh_label, event.pgh_obj_id)
        for event in Events.objects.across("shop.ProductEvent").order_by(
            "-pgh_created_at", "-pgh_id"
        )
    ]

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/history/export.csv", {"model": "shop.product"})
        lines = list(csv.DictReader(io.StringIO(download(response))))

    assert [(line["label"], line["object_id"]) for line in lines] == expected
    assert [line["object"] for line in lines] == [
        "Matcha (T-2)",  # deleted: named from its events
        "Sencha (T-1)",
        "Sencha (T-1)",
        "Sencha (T-1)",
        "Matcha (T-2)",
        "Sencha (T-1)",
    ]
    # 6 events in 3 chunks (and a last, empty one); Sencha is read once, in the first chunk
    # that names it.
    # The product rows each chunk reads: ANY('{1,2}'::text[]) with psycopg 3, or
    # ANY(ARRAY['1','2']::text[]) with psycopg2.
    read = [
        re.search(r'FROM "shop_product" t WHERE t."id" = ANY\((.*?)::text\[\]', q["sql"])
        for q in queries
    ]
    read_ids = [re.findall(r"\d+", match.group(1)) for match in read if match]
    assert len([ids for ids in read_ids if str(tea.pk) in ids]) == 1


def test_a_download_stopped_early_hands_the_connection_back_to_its_thread(
    client, root, monkeypatch
):
    # The next chunk is read in a thread of its own, on the request's connection.
    monkeypatch.setattr(export, "CHUNK", 2)
    Product.objects.bulk_create(
        Product(name=f"P{i}", sku=f"S{i}", price=1, category="tea") for i in range(7)
    )

    response = client.get("/history/export.csv", {"model": "shop.product"})
    content = iter(response.streaming_content)
    header, first_chunk = next(content), next(content)
    shared_while_reading = connection.allow_thread_sharing
    response.close()

    assert header.decode().startswith("time,user,label,")
    assert len(first_chunk.decode().splitlines()) == 2
    assert shared_while_reading
    assert not connection.allow_thread_sharing
    assert Product.objects.count() == 7  # (the connection still works here)


def test_export_with_a_bad_filter_is_refused_with_the_reason(client, root):
    response = client.get("/history/export.csv", {"since": "yesterday-ish"})

    assert response.status_code == 400
    assert response.content.decode() == "Cannot export: since: Enter a valid date/time."


def test_a_deleted_user_reads_as_their_id_and_a_context_without_a_user_as_empty(
    client, root, django_user_model
):
    temp = django_user_model.objects.create_user("temp")
    with pghistory.context(user=temp.pk, url="/shop/products/new/"):
        tea = Product.objects.create(name="Sencha", sku="T-1", price=1, category="tea")
    temp_id = temp.pk
    temp.delete()
    with pghistory.context(url="/cron/restock/"):
        Product.objects.filter(pk=tea.pk).update(stock=5)
    with pghistory.context(user=root.pk, url="/shop/products/1/"):
        Product.objects.filter(pk=tea.pk).update(stock=6)

    response = client.get("/history/export.csv", {"model": "shop.product"})

    lines = list(csv.DictReader(io.StringIO(download(response))))
    assert [(line["user"], line["url"], line["changed_fields"]) for line in lines] == [
        ("root", "/shop/products/1/", "stock"),
        ("", "/cron/restock/", "stock"),
        (str(temp_id), "/shop/products/new/", ""),
    ]


@pytest.fixture
def shop_day(settings, django_user_model):
    """A day in the shop touching every kind of value an export shows: a user with a full
    name, a deleted user, choices, money, dates, JSON, foreign keys, a redacted field, a
    formula, quotes, commas, a line break and non-ASCII text, and a deleted object."""
    settings.PGHISTORY_ADMIN_REDACT = {"shop.Customer": ["notes"]}
    mia = django_user_model.objects.create_user("mia", first_name="Mia", last_name="Rossi")
    gone = django_user_model.objects.create_user("gone")
    with pghistory.context(user=mia.pk, url="/shop/orders/new/") as ordering:
        zoe = Customer.objects.create(
            name='Zoë "Z" Ng', email="zoe@example.com", city="=1+2", notes="owes 5"
        )
        matcha = Product.objects.create(
            name="Matcha, ceremonial",
            sku="M-1",
            price=Decimal("12.50"),
            category="tea",
            attributes={"origin": "Uji", "grams": 30},
        )
        order = Order.objects.create(
            customer=zoe,
            shipping_address="1 Tea Lane\nKyoto",
            placed_at=datetime.datetime(2026, 2, 28, 23, 5, 7, 250000, tzinfo=datetime.UTC),
        )
        line = OrderLine.objects.create(
            order=order, product=matcha, quantity=2, unit_price=Decimal("12.50")
        )
    with pghistory.context(user=gone.pk, url="/shop/orders/1/pay/") as paying:
        Order.objects.filter(pk=order.pk).update(
            status="paid", placed_at=datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC)
        )
    gone_pk = gone.pk
    gone.delete()
    Customer.objects.filter(pk=zoe.pk).update(notes="paid", is_vip=True, city="@home")
    Product.objects.filter(pk=matcha.pk).update(
        price=Decimal("11.00"), attributes={"origin": "Uji", "grams": 40}
    )
    line_pk = line.pk
    line.delete()
    times = Events.objects.order_by("-pgh_created_at", "-pgh_model", "-pgh_id").values_list(
        "pgh_created_at", flat=True
    )
    return {
        "t": [at.isoformat() for at in times],
        "ordering": ordering.id,
        "paying": paying.id,
        "mia": mia.pk,
        "gone": gone_pk,
        "customer": zoe.pk,
        "product": matcha.pk,
        "order": order.pk,
        "line": line_pk,
    }


def _filled(template: str, day: dict, django_user_model) -> str:
    """`template` with the moments, keys and ids of `shop_day` (and root's last login)."""
    root = django_user_model.objects.get(username="root")
    values = {f"t{position}": at for position, at in enumerate(day["t"])}
    values.update(day, login=_as_in_json(root.last_login), root=root.pk)
    return template.format(**values)


def _as_in_json(moment) -> str:
    """A time as a diff holds it: Postgres' JSON, whose fraction has no trailing zeros."""
    text = moment.isoformat()
    if moment.microsecond:
        fraction = f".{moment.microsecond:06d}"
        text = text.replace(fraction, fraction.rstrip("0"))
    return text


EVERY_KIND_CSV = (
    HEADER + "\r\n"
    '{t0},,delete,shop.OrderLine,{line},"2 × Matcha, ceremonial",,,,\r\n'
    '{t1},,update,shop.Product,{product},"Matcha, ceremonial (M-1)","price, attributes",'
    '"{{""attributes"": [{{""grams"": 30, ""origin"": ""Uji""}}, {{""grams"": 40, ""origin"":'
    ' ""Uji""}}], ""price"": [12.5, 11.0]}}",,\r\n'
    '{t2},,update,shop.Customer,{customer},"Zoë ""Z"" Ng <zoe@example.com>",'
    '"city, is_vip, notes","{{""city"": [""=1+2"", ""@home""], ""is_vip"": [false, true],'
    ' ""notes"": [""[redacted]"", ""[redacted]""]}}",,\r\n'
    "{t3},,delete,shop.StaffMember,{gone},gone,,,,\r\n"
    '{t4},{gone},update,shop.Order,{order},Order #{order} (Paid),"status, placed_at",'
    '"{{""placed_at"": [""2026-02-28T23:05:07.25+00:00"", ""2026-03-01T09:30:00+00:00""],'
    ' ""status"": [""new"", ""paid""]}}",/shop/orders/1/pay/,{paying}\r\n'
    '{t5},{gone},status_changed,shop.Order,{order},Order #{order} (Paid),"status, placed_at",'
    '"{{""placed_at"": [""2026-02-28T23:05:07.25+00:00"", ""2026-03-01T09:30:00+00:00""],'
    ' ""status"": [""new"", ""paid""]}}",/shop/orders/1/pay/,{paying}\r\n'
    '{t6},mia,insert,shop.OrderLine,{line},"2 × Matcha, ceremonial",,,/shop/orders/new/,'
    "{ordering}\r\n"
    "{t7},mia,insert,shop.Order,{order},Order #{order} (Paid),,,/shop/orders/new/,{ordering}\r\n"
    '{t8},mia,insert,shop.Product,{product},"Matcha, ceremonial (M-1)",,,/shop/orders/new/,'
    "{ordering}\r\n"
    '{t9},mia,insert,shop.Customer,{customer},"Zoë ""Z"" Ng <zoe@example.com>",,,'
    "/shop/orders/new/,{ordering}\r\n"
    "{t10},,insert,testapp.TrackedUser,{gone},gone,,,,\r\n"
    "{t11},,insert,shop.StaffMember,{gone},gone,,,,\r\n"
    "{t12},,insert,testapp.TrackedUser,{mia},mia,,,,\r\n"
    "{t13},,insert,shop.StaffMember,{mia},Mia Rossi,,,,\r\n"
    '{t14},,update,testapp.TrackedUser,{root},root,last_login,"{{""last_login"": [null,'
    ' ""{login}""]}}",,\r\n'
    "{t15},,insert,testapp.TrackedUser,{root},root,,,,\r\n"
    "{t16},,insert,shop.StaffMember,{root},root,,,,\r\n"
)


def test_csv_bytes_of_every_kind_of_value(client, root, shop_day, django_user_model):
    text = download(client.get("/history/export.csv"))

    assert text == _filled(EVERY_KIND_CSV, shop_day, django_user_model)


def _jsonl(time, user, label, model, pk, name, fields="[]", diff="{{}}", url="", context=""):
    return (
        f'{{{{"time": "{{{time}}}", "user": "{user}", "label": "{label}", "model": "{model}",'
        f' "object_id": "{{{pk}}}", "object": "{name}", "changed_fields": {fields},'
        f' "diff": {diff}, "url": "{url}", "context_id": "{context}"}}}}\n'
    )


EVERY_KIND_JSONL = "".join(
    [
        _jsonl("t0", "", "delete", "shop.OrderLine", "line", "2 × Matcha, ceremonial"),
        _jsonl(
            "t1",
            "",
            "update",
            "shop.Product",
            "product",
            "Matcha, ceremonial (M-1)",
            '["price", "attributes"]',
            '{{"price": [12.5, 11.0], "attributes": [{{"grams": 30, "origin": "Uji"}},'
            ' {{"grams": 40, "origin": "Uji"}}]}}',
        ),
        _jsonl(
            "t2",
            "",
            "update",
            "shop.Customer",
            "customer",
            'Zoë \\"Z\\" Ng <zoe@example.com>',
            '["city", "is_vip", "notes"]',
            '{{"city": ["=1+2", "@home"], "is_vip": [false, true],'
            ' "notes": ["[redacted]", "[redacted]"]}}',
        ),
        _jsonl("t3", "", "delete", "shop.StaffMember", "gone", "gone"),
        *(
            _jsonl(
                time,
                "{gone}",
                label,
                "shop.Order",
                "order",
                "Order #{order} (Paid)",
                '["status", "placed_at"]',
                '{{"status": ["new", "paid"], "placed_at": ["2026-02-28T23:05:07.25+00:00",'
                ' "2026-03-01T09:30:00+00:00"]}}',
                "/shop/orders/1/pay/",
                "{paying}",
            )
            for time, label in (("t4", "update"), ("t5", "status_changed"))
        ),
        *(
            _jsonl(
                time,
                "mia",
                "insert",
                model,
                pk,
                name,
                url="/shop/orders/new/",
                context="{ordering}",
            )
            for time, model, pk, name in (
                ("t6", "shop.OrderLine", "line", "2 × Matcha, ceremonial"),
                ("t7", "shop.Order", "order", "Order #{order} (Paid)"),
                ("t8", "shop.Product", "product", "Matcha, ceremonial (M-1)"),
                ("t9", "shop.Customer", "customer", 'Zoë \\"Z\\" Ng <zoe@example.com>'),
            )
        ),
        _jsonl("t10", "", "insert", "testapp.TrackedUser", "gone", "gone"),
        _jsonl("t11", "", "insert", "shop.StaffMember", "gone", "gone"),
        _jsonl("t12", "", "insert", "testapp.TrackedUser", "mia", "mia"),
        _jsonl("t13", "", "insert", "shop.StaffMember", "mia", "Mia Rossi"),
        _jsonl(
            "t14",
            "",
            "update",
            "testapp.TrackedUser",
            "root",
            "root",
            '["last_login"]',
            '{{"last_login": [null, "{login}"]}}',
        ),
        _jsonl("t15", "", "insert", "testapp.TrackedUser", "root", "root"),
        _jsonl("t16", "", "insert", "shop.StaffMember", "root", "root"),
    ]
)


def test_jsonl_bytes_of_every_kind_of_value(client, root, shop_day, django_user_model):
    text = download(client.get("/history/export.jsonl"))

    assert text == _filled(EVERY_KIND_JSONL, shop_day, django_user_model)


def test_times_read_as_the_servers_text_are_written_as_isoformat_writes_them(db):
    moments = [
        datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 1, 9, 30, 0, 250000, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=datetime.UTC),
        datetime.datetime(999, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT m::text FROM unnest(%s::timestamptz[]) m", [moments])
        texts = [text for (text,) in cursor.fetchall()]

    assert [export._utc_isoformat(text) for text in texts] == [
        "2026-03-01T09:30:00+00:00",
        "2026-03-01T09:30:00.250000+00:00",
        "2026-12-31T23:59:59.000001+00:00",
        "0999-01-02T03:04:05.123456+00:00",
    ]
    assert [moment.isoformat() for moment in moments] == [
        export._utc_isoformat(text) for text in texts
    ]


def test_without_time_zones_times_are_written_as_django_reads_them(client, root, settings):
    settings.USE_TZ = False
    Product.objects.create(name="Sencha", sku="T-1", price=1, category="tea")
    insert = Events.objects.filter(pgh_obj_model="shop.Product").get()

    lines = list(
        csv.DictReader(
            io.StringIO(download(client.get("/history/export.csv", {"model": "shop.product"})))
        )
    )

    assert insert.pgh_created_at.tzinfo is None
    assert [line["time"] for line in lines] == [insert.pgh_created_at.isoformat()]
