"""The lineage in a real browser (Chromium through Playwright) against a live server: from a
request's page to the job it started and everything it caused, and from the job back to its
request. Screenshots go to test-artifacts/."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

import pghistory
from example_project.shop.models import Customer, Product
from tests.browser import ARTIFACTS, cells, follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lineage():
    """Alice's request creates tea and enqueues a job that restocks it and adds a VIP."""
    User.objects.create_superuser("root", "root@example.com", "secret-pw")
    alice = User.objects.create_user("alice", password="secret-pw", is_staff=True)
    with pghistory.context(user=alice.pk, url="/shop/products/new/") as request:
        tea = Product.objects.create(
            name="Sencha", sku="T-1", price=Decimal("4.50"), stock=10, category="tea"
        )
    with pghistory.context(
        task="shop.tasks.restock",
        task_id=str(uuid.uuid4()),
        user=alice.pk,
        parent=str(request.id),
        origin=str(request.id),
        parent_metadata={"user": alice.pk, "url": "/shop/products/new/"},
    ) as job:
        Product.objects.filter(pk=tea.pk).update(stock=25)
        Customer.objects.create(name="Ada", email="ada@example.com", is_vip=True)
    return {"request": str(request.id), "job": str(job.id)}


@pytest.fixture
def root_page(page, live_server, lineage):
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, live_server, "root")
    return page


def test_a_requests_page_lists_its_job_and_one_click_shows_what_it_caused(
    root_page, live_server, lineage
):
    page = root_page
    page.goto(f"{live_server.url}/history/context/{lineage['request']}/")

    jobs = page.locator("section.pgh-jobs tbody tr")
    assert jobs.count() == 1
    assert jobs.locator("td.pgh-job-name").inner_text() == "task shop.tasks.restock"
    assert jobs.locator("td.pgh-job-user").inner_text() == "alice"
    assert jobs.locator("td.pgh-job-events").inner_text() == "2"
    assert cells(page, "Object") == ["Product Sencha (T-1)"]
    page.screenshot(path=ARTIFACTS / "lineage-request.png", full_page=True)

    follow(page, page.locator("a.pgh-caused-link"))
    assert page.url == f"{live_server.url}/history/context/{lineage['request']}/caused/"
    assert cells(page, "Object") == [
        "Customer Ada <ada@example.com>",
        "Product Sencha (T-1)",
        "Product Sencha (T-1)",
    ]
    assert cells(page, "What") == ["insert", "update", "insert"]
    assert [where.split()[:2] for where in cells(page, "Where")] == [
        ["task", "shop.tasks.restock"],
        ["task", "shop.tasks.restock"],
        ["/shop/products/new/", lineage["request"][:8]],
    ]


def test_a_job_is_one_click_from_its_request_and_links_back(root_page, live_server, lineage):
    page = root_page
    page.goto(f"{live_server.url}/history/context/{lineage['request']}/")

    follow(page, page.get_by_role("link", name="task shop.tasks.restock"))
    assert page.url == f"{live_server.url}/history/context/{lineage['job']}/"
    assert cells(page, "Object") == ["Customer Ada <ada@example.com>", "Product Sencha (T-1)"]
    assert page.locator("a.pgh-origin").inner_text() == lineage["request"]
    page.screenshot(path=ARTIFACTS / "lineage-job.png", full_page=True)

    follow(page, page.locator("a.pgh-parent"))
    assert page.url == f"{live_server.url}/history/context/{lineage['request']}/"


def test_the_where_column_links_a_tasks_events_to_its_job(root_page, live_server, lineage):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.customer")

    assert cells(page, "Where") == [f"task shop.tasks.restock {lineage['job'][:8]}"]
    follow(page, page.locator("td[data-label=Where] a.pgh-task"))
    assert page.url == f"{live_server.url}/history/context/{lineage['job']}/"
