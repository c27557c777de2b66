"""A tracked model's table as it was at a moment: `pghistory.as_of()` and its page
(`model/<app_label.model>/as-of/?at=`), over history written at known moments (the example
shop's clock makes the triggers stamp each event with the moment given)."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

import pghistory
from example_project.shop import clock
from example_project.shop.models import Product, Tag
from pghistory.snapshots import Incomplete
from tests.browser import ARTIFACTS, sign_in
from tests.testapp.models import Timestamped

pytestmark = pytest.mark.django_db(transaction=True)

T0 = timezone.make_aware(datetime.datetime(2026, 3, 2, 9, 0))


def moment(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def tags():
    """Three tags created at T0; one renamed at +10 min, one deleted at +20, one created at
    +30; the rename made again at +40."""
    with clock.at(moment(0)):
        fresh, sale, old = (Tag.objects.create(name=name) for name in ("fresh", "sale", "old"))
    pks = {"fresh": fresh.pk, "sale": sale.pk, "old": old.pk}
    with clock.at(moment(10)):
        sale.name = "sale!"
        sale.save()
    with clock.at(moment(20)):
        old.delete()
    with clock.at(moment(30)):
        new = Tag.objects.create(name="new")
    with clock.at(moment(40)):
        sale.name = "sale"
        sale.save()
    return {**pks, "new": new.pk}


def names(rows) -> list[tuple]:
    return [(row.pk, row.name) for row in rows]


def test_as_of_gives_the_rows_that_existed_with_their_values_then(tags):
    fresh, sale, old, new = tags["fresh"], tags["sale"], tags["old"], tags["new"]
    assert names(pghistory.as_of(Tag, moment(-1))) == []
    assert names(pghistory.as_of(Tag, moment(5))) == [
        (fresh, "fresh"),
        (sale, "sale"),
        (old, "old"),
    ]
    assert names(pghistory.as_of(Tag, moment(15))) == [
        (fresh, "fresh"),
        (sale, "sale!"),
        (old, "old"),
    ]
    # Deleted at +20: gone; created at +30: there.
    assert names(pghistory.as_of(Tag, moment(25))) == [(fresh, "fresh"), (sale, "sale!")]
    assert names(pghistory.as_of(Tag, moment(45))) == [
        (fresh, "fresh"),
        (sale, "sale"),
        (new, "new"),
    ]


def test_as_of_pages_by_primary_key_and_gets_one_row(tags):
    table = pghistory.as_of(Tag, moment(15))
    assert names(table.page(size=2)) == [(tags["fresh"], "fresh"), (tags["sale"], "sale!")]
    assert names(table.page(after=tags["sale"], size=2)) == [(tags["old"], "old")]
    assert names(table.page(before=tags["old"], size=1)) == [(tags["sale"], "sale!")]
    one = table.get(tags["sale"])
    assert (one.name, one._state.adding, one.pgh_event.pgh_label) == ("sale!", False, "update")
    with pytest.raises(Tag.DoesNotExist, match=r"No Tag \d+ existed at 2026-03-02T09:25:00"):
        pghistory.as_of(Tag, moment(25)).get(tags["old"])


def test_as_of_refuses_a_model_whose_history_misses_changes():
    with pytest.raises(Incomplete) as refused:
        pghistory.as_of(Timestamped, timezone.now())
    assert str(refused.value) == (
        "The history of testapp.Timestamped does not record every change:"
        " testapp.TimestampedEvent has no tracker recording every update / delete."
    )


def cells(html: str) -> list[list[str]]:
    """The as-of table's rows: each cell's text, the row links first."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr data-pk=\"[^\"]+\">(.*?)</tr>", body, re.S)
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def test_the_page_shows_the_table_as_it_was(client, admin_user, tags):
    client.force_login(admin_user)
    response = client.get("/history/model/shop.tag/as-of/", {"at": "2026-03-02T09:15"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Tags as of" in html
    assert re.findall(r"<th scope=\"col\">([^<]*)</th>", html) == ["Row", "ID", "Name"]
    assert cells(html) == [
        ["Timeline · As of", str(tags["fresh"]), "fresh"],
        ["Timeline · As of", str(tags["sale"]), "sale!"],
        ["Timeline · As of", str(tags["old"]), "old"],
    ]
    assert f'href="/history/object/shop.tag/{tags["sale"]}/"' in html
    assert (
        f'href="/history/object/shop.tag/{tags["sale"]}/as-of/?at=2026-03-02T09%3A15%3A00%2B00%3A00"'
        in html
    )


def test_the_page_is_paged_by_primary_key(client, admin_user, settings):
    client.force_login(admin_user)
    with clock.at(moment(0)):
        created = [Tag.objects.create(name=f"tag {number:02}") for number in range(60)]
    first = client.get("/history/model/shop.tag/as-of/", {"at": "2026-03-02T10:00"})
    html = first.content.decode()
    assert len(cells(html)) == 50
    (next_url,) = re.findall(r'href="([^"]+)" class="pgh-page-older"', html)
    assert "pgh-page-newer" not in html
    second = client.get("/history/model/shop.tag/as-of/" + next_url.replace("&amp;", "&"))
    rows = cells(second.content.decode())
    assert [row[2] for row in rows] == [tag.name for tag in created[50:]]
    assert 'class="pgh-page-older"' not in second.content.decode()
    (previous_url,) = re.findall(r'href="([^"]+)" class="pgh-page-newer"', second.content.decode())
    back = client.get("/history/model/shop.tag/as-of/" + previous_url.replace("&amp;", "&"))
    assert [row[2] for row in cells(back.content.decode())] == [tag.name for tag in created[:50]]


def test_values_are_shown_as_the_timeline_shows_them(client, admin_user):
    client.force_login(admin_user)
    with clock.at(moment(0)):
        Product.objects.create(
            name="Kettle", sku="K-1", price=Decimal("39.90"), stock=3, category="equipment"
        )
    html = client.get(
        "/history/model/shop.product/as-of/", {"at": "2026-03-02T10:00"}
    ).content.decode()
    (row,) = cells(html)
    assert "Brewing equipment" in row and "39.90" in row and "Kettle" in row


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"at": "not a time"}, "Enter a valid date/time."),
        ({"at": "2026-03-02T10:00", "after": "abc"}, "That page does not exist: start again."),
        ({"at": "2026-03-02T10:00", "after": "99999999999999999999"}, "That page does not exist"),
        ({"at": "2026-03-02T10:00", "after": "1", "before": "3"}, "That page does not exist"),
    ],
)
def test_bad_input_is_a_400_with_a_message(client, admin_user, tags, query, message):
    client.force_login(admin_user)
    response = client.get("/history/model/shop.tag/as-of/", query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_unknown_or_forbidden_model_is_a_404(client, admin_user, django_user_model):
    client.force_login(admin_user)
    assert client.get("/history/model/shop.nothing/as-of/").status_code == 404
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/history/model/shop.tag/as-of/", {"at": "2026-03-02"}).status_code == 404


def test_a_model_whose_history_misses_changes_says_so(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/history/model/testapp.timestamped/as-of/", {"at": "2026-03-02"})
    assert response.status_code == 200
    assert (
        "The history of testapp.Timestamped does not record every change:"
        " testapp.TimestampedEvent has no tracker recording every update / delete."
        " Its table as of a moment cannot be rebuilt from it." in response.content.decode()
    )


def test_the_browser_and_an_objects_as_of_page_link_to_it(client, admin_user, tags):
    client.force_login(admin_user)
    browser = client.get("/history/", {"model": "shop.tag"}).content.decode()
    assert 'href="/history/model/shop.tag/as-of/">Table as of…</a>' in browser
    assert "Table as of…" not in client.get("/history/").content.decode()
    as_of = client.get(
        f"/history/object/shop.tag/{tags['sale']}/as-of/", {"at": "2026-03-02T09:15"}
    )
    assert (
        'href="/history/model/shop.tag/as-of/?at=2026-03-02T09%3A15%3A00%2B00%3A00">the whole'
        " table then</a>" in as_of.content.decode()
    )


def test_the_page_in_a_browser(page, live_server, admin_user, tags):
    admin_user.set_password("secret-pw")
    admin_user.save()
    sign_in(page, live_server, admin_user.username)
    page.goto(f"{live_server.url}/history/model/shop.tag/as-of/?at=2026-03-02T09:25")
    rows = page.locator("#pgh-as-of-table tbody tr")
    assert rows.count() == 2
    assert rows.nth(1).locator("td[data-field=name]").inner_text() == "sale!"
    page.screenshot(path=ARTIFACTS / "table-as-of.png", full_page=True)
    rows.nth(1).get_by_role("link", name="As of").click()
    page.wait_for_url(re.compile(r".*/as-of/\?at="))
    assert "sale!" in page.locator(".pgh-values, table").first.inner_text()


def test_the_table_filters_by_value_and_by_who_last_changed_a_row(client, admin_user, tags):
    client.force_login(admin_user)
    with clock.at(moment(50)), pghistory.context(user=admin_user.pk):
        Tag.objects.filter(pk=tags["fresh"]).update(name="fresh!")
    url = "/history/model/shop.tag/as-of/"
    by_value = client.get(url, {"at": "2026-03-02T09:15", "q": "SALE"})
    assert [row[2] for row in cells(by_value.content.decode())] == ["sale!"]
    by_user = client.get(url, {"at": "2026-03-02T10:00", "user": admin_user.username})
    assert [row[2] for row in cells(by_user.content.decode())] == ["fresh!"]
    assert pghistory.as_of(Tag, moment(60)).page(user=admin_user.pk)[0].name == "fresh!"
    # A percent sign or an underscore is looked for as it is.
    assert (
        "No tags existed" in client.get(url, {"at": "2026-03-02T10:00", "q": "%"}).content.decode()
    )
    unknown = client.get(url, {"at": "2026-03-02T10:00", "user": "nobody"})
    assert unknown.status_code == 400
    assert "Last changed by: There is no user “nobody”." in unknown.content.decode()
