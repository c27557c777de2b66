"""The example shop's seeded history spreads over the past 90 days, written as it happens: the
triggers stamp each event with the moment of its simulated day (`example_project.shop.clock`),
contexts and the shop's own timestamps agree with the events, and no event is edited later.
"""

import datetime
import io
from collections import defaultdict

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from example_project.shop import clock
from example_project.shop.management.commands.seed import (
    BLACK_FRIDAY,
    BLACK_FRIDAY_DAY,
    HISTORY_DAYS,
    event_models,
)
from example_project.shop.models import Customer, Order
from pghistory.models import Context, Events

SHOP_EVENT_MODELS = event_models()


def midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@pytest.fixture
def seeded(shop_site):
    """A shop seeded with about 600 events, and the day of the run."""
    today = timezone.localdate()
    call_command(
        "seed", events=600, seed=3, today=today, stdout=io.StringIO(), stderr=io.StringIO()
    )
    return today


def shop_events():
    return Events.objects.across(*SHOP_EVENT_MODELS)


# -- the shop's clock --------------------------------------------------------------------


@pytest.mark.django_db
def test_inside_at_the_database_and_the_shop_read_the_moment():
    moment = timezone.now() - datetime.timedelta(days=40, minutes=7)

    with clock.at(moment), connection.cursor() as cursor:
        cursor.execute("SELECT NOW()")
        assert cursor.fetchone()[0] == moment
        assert clock.now() == moment
        customer = Customer.objects.create(name="Ann", email="ann@example.com")

    event = Customer.pgh_event_model.objects.get(pgh_obj=customer)
    assert (event.pgh_label, event.pgh_created_at, customer.created_at) == (
        "insert",
        moment,
        moment,
    )


@pytest.mark.django_db
def test_outside_at_now_is_the_real_time_again():
    with clock.at(timezone.now() - datetime.timedelta(days=3)):
        pass
    before = timezone.now()

    customer = Customer.objects.create(name="Bob", email="bob@example.com")

    event = Customer.pgh_event_model.objects.get(pgh_obj=customer)
    assert event.pgh_created_at >= before - datetime.timedelta(seconds=1)
    assert customer.created_at >= before
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        assert "shop_clock" not in cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_nested_at_gives_the_outer_moment_back():
    outer = timezone.now() - datetime.timedelta(days=10)
    inner = outer + datetime.timedelta(hours=2)

    with clock.at(outer), connection.cursor() as cursor:
        with clock.at(inner):
            cursor.execute("SELECT NOW()")
            assert cursor.fetchone()[0] == inner
        cursor.execute("SELECT NOW()")
        assert cursor.fetchone()[0] == outer
        assert clock.now() == outer


@pytest.mark.django_db
def test_at_refuses_a_naive_moment():
    naive = datetime.datetime(2025, 1, 1, 12)

    with pytest.raises(ValueError, match="aware"), clock.at(naive):
        pass


# -- the seeded history ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_seeded_events_spread_over_the_90_days_before_today(seeded):
    today = seeded
    days = set()
    for created_at in shop_events().values_list("pgh_created_at", flat=True):
        days.add(timezone.localtime(created_at).date())

    assert min(days) == today - datetime.timedelta(days=HISTORY_DAYS)
    assert max(days) == today - datetime.timedelta(days=1)
    assert len(days) >= 60
    black_friday = Context.objects.get(metadata__reason=BLACK_FRIDAY)
    black_friday_day = timezone.localtime(black_friday.created_at).date()
    assert black_friday_day - min(days) == datetime.timedelta(days=BLACK_FRIDAY_DAY)


@pytest.mark.django_db(transaction=True)
def test_each_context_row_is_stamped_with_its_first_events_moment(seeded):
    first_event = {}
    for context_id, created_at in shop_events().values_list("pgh_context_id", "pgh_created_at"):
        if context_id is not None:
            first_event[context_id] = min(created_at, first_event.get(context_id, created_at))

    contexts = dict(Context.objects.filter(pk__in=first_event).values_list("pk", "created_at"))

    assert contexts == first_event
    assert len(contexts) > 100


@pytest.mark.django_db(transaction=True)
def test_orders_placed_at_agree_with_their_insert_events(seeded):
    inserts = Order.pgh_event_model.objects.filter(pgh_label="insert")
    staff_orders = inserts.filter(pgh_context__metadata__has_key="url")
    marketplace_orders = inserts.filter(pgh_context__metadata__source="marketplace import")

    assert staff_orders.count() > 10 and marketplace_orders.exists()
    for event in staff_orders:
        assert event.placed_at == event.pgh_created_at
    for event in marketplace_orders:
        waited = event.pgh_created_at - event.placed_at
        assert datetime.timedelta(minutes=10) <= waited <= datetime.timedelta(days=1)


@pytest.mark.django_db(transaction=True)
def test_each_objects_events_were_written_in_the_order_of_their_moments(seeded):
    # Written as the days happened, not stamped afterwards: for every object, the order the
    # events were inserted in (pgh_id) is the order of their moments.
    by_object = defaultdict(list)
    for model in SHOP_EVENT_MODELS:
        rows = model.objects.values_list("pgh_obj_id", "pgh_id", "pgh_created_at")
        for obj_id, pgh_id, created_at in rows:
            by_object[model, obj_id].append((pgh_id, created_at))

    for key, events in by_object.items():
        moments = [created_at for _, created_at in sorted(events)]
        assert moments == sorted(moments), key
    # Staff members' requests: the user page's chart counts them on many days.
    request_days = {
        timezone.localtime(created_at).date()
        for created_at in Context.objects.filter(metadata__has_key="url").values_list(
            "created_at", flat=True
        )
    }
    assert len(request_days) >= 30
