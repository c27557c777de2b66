"""Hostile input: every page of the history UI, standalone and in the admin, fed malformed,
oversized and hostile query parameters, path segments and form fields. No answer is a server
error (the test client re-raises a view's exception, which fails the test), no page shows a
traceback or an exception's name, markup sent in never comes back as markup, and the limited
staff user never sees the product they may not view.

Hypothesis combines hostile values at random (derandomized, so every run tries the same
inputs); the sweeps try every listed value in every place it can go. `TRIED` counts the
requests made; the count is written to the terminal at the end of the module.
"""

import base64
import json
import re
from urllib.parse import quote, unquote_plus, urlencode

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pghistory
from example_project.shop.models import Customer, Product
from pghistory.aggregation import event_models
from pghistory.models import Events
from tests.test_ui_access import body

pytestmark = pytest.mark.django_db

SURFACES = ["/history/", "/admin/pghistory_ui/event/"]

#: Requests made by this module's tests, by test.
TRIED: dict[str, int] = {}

#: Text that only an exception's report would put on a page.
LEAKS = re.compile(
    r"Traceback|File \"|Exception Value|site-packages|psycopg|django\.db\."
    r"|\b[A-Z]\w*(?:Error|Exception)\b|MultiValueDictKeyError|DoesNotExist|InvalidCursor"
    r"|NoReverseMatch|StopIteration"
)

SCRIPTS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)>",
    "'><iframe src=javascript:alert(1)>",
]

# The product's strings, which the limited staff user may never see.
SECRET = ["SecretBlend9D1E", "SKUHIDDEN4C2A"]
#: The product's description: markup stored in the history.
STORED_MARKUP = "<b>stored</b>"


def cursor(*values) -> str:
    raw = json.dumps(list(values)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def raw_cursor(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


#: Wrong types, huge and negative numbers, SQL and template fragments, NUL, odd Unicode.
GENERIC = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "1e309",
    "NaN",
    "-inf",
    "0x10",
    "١٢",
    "true",
    "null",
    "[]",
    "{}",
    "-9223372036854775809",
    "9223372036854775808",
    "2147483648",
    "9" * 400,
    "x" * 5000,
    "'; DROP TABLE shop_product; --",
    "' OR '1'='1",
    "1) OR (1=1",
    "1; SELECT pg_sleep(5)",
    '") OR 1=1 --',
    "%(value)s",
    "{0}",
    "{{ 7*7 }}",
    "{% debug %}",
    "../../etc/passwd",
    "\\",
    "\x00",
    "a\x00b",
    "\u202e\ufeff",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃",
    "\r\nSet-Cookie: x=1",
    *SCRIPTS,
]

#: Models, objects, users, labels and fields: real ones, unknown ones, forbidden ones.
KEYS = [
    "shop.product",
    "shop.customer",
    "SHOP.PRODUCT",
    "shop.nope",
    "auth.user",
    "pghistory.context",
    "pghistory.events",
    "shop.product:1",
    "shop.product:-1",
    "shop.product:99999999999999999999",
    "shop.customer:abc",
    "shop.customer: 1",
    "shop.customer:1\x00",
    ":",
    "::",
    "shop.product:1:2",
    "insert",
    "name",
    "pgh_data",
    "password",
    "actor",
    "root",
    "hour",
]

DATES = [
    "0001-01-01",
    "0001-01-01T00:00:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31",
    "9999-12-31T23:59:59.999999",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00",
    "0000-00-00",
    "2024-02-30",
    "2024-13-01",
    "99999-01-01",
    "-2024-01-01",
    "2024-01-01T25:00",
    "2024-01-01T00:00:00+99:00",
    "2024-01-01 00:00:00.9999999",
    "1970-01-01T00:00:00Z",
    "2024-01-01T00:00:00\x00",
    "yesterday",
]

SORTS = ["time", "-time", "model", "-model", "--time", "-pgh_id", "pgh_data"]

UUIDS = ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]

#: Page cursors: not base64, not JSON, the wrong shape, values of the wrong type or out of
#: range, and times at the ends of the calendar.
CURSORS = [
    "====",
    "!!!",
    raw_cursor(b"\xff\xfe\x00"),
    raw_cursor(b"[1, 2"),
    cursor(),
    cursor("-time"),
    cursor(["-time"], 1, 2, 3),
    cursor({"a": 1}),
    cursor("-time", None, None, None),
    cursor("-time", "2024-01-01T00:00:00", "shop.CustomerEvent", 1),
    cursor("-time", "2024-01-01T00:00:00+00:00", "shop.CustomerEvent", 2**70),
    cursor("-time", "2024-01-01T00:00:00+00:00", "shop.CustomerEvent", -(2**63)),
    cursor("-time", "2024-01-01T00:00:00+00:00", "shop.CustomerEvent", 1.5),
    cursor("-time", "2024-01-01T00:00:00+00:00", "shop.CustomerEvent", True),
    cursor("-time", "0001-01-01T00:00:00+14:00", "a", 1),
    cursor("time", "9999-12-31T23:59:59.999999-14:00", "a", 1),
    cursor("-time", "2024-01-01T00:00:00+00:00", "a\x00b", 1),
    cursor("-time", "2024-01-01T00:00:00+00:00", ["x"], 1),
    cursor("model", "shop.Customer", "2024-01-01T00:00:00+00:00", "shop.CustomerEvent", 1),
    cursor("model", 5, "2024-01-01T00:00:00+00:00", "shop.CustomerEvent", 1),
    cursor("-model", "\x00", "2024-01-01T00:00:00+00:00", "shop.CustomerEvent", 1),
]

HOSTILE = GENERIC + KEYS + DATES + SORTS + UUIDS + CURSORS

#: Fragments sent as they are, percent-encoding included: bytes that are not UTF-8, NUL,
#: broken escapes, encoded separators.
RAW = [
    "%ff%fe",
    "%00",
    "a%00b",
    "%",
    "%zz",
    "%C0%AF",
    "%ED%A0%80",
    "%F0%9F%98%80",
    "%E2%80%AE",
    "%2e%2e%2f",
    "%0d%0aSet-Cookie:%20x=1",
    "%u0041",
    "+%2B+",
    "%26%3D",
    "%3Cscript%3Ealert(1)%3C/script%3E",
]

PARAMS = [
    "model",
    "label",
    "user",
    "period",
    "since",
    "until",
    "context",
    "caused",
    "url",
    "object",
    "field",
    "q",
    "after",
    "before",
    "last",
    "sort",
    "at",
    "event",
    "related",
    "page",
    "p",
    "o",
    "log",
]

hostile_value = st.one_of(
    st.sampled_from(HOSTILE).map(lambda text: quote(text, safe="")),
    st.sampled_from(RAW),
    st.text(max_size=40).map(lambda text: quote(text, safe="")),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    # A tag of its own, which no page would ever contain unless it echoed it as markup.
    st.from_regex(r"[a-z]{6}", fullmatch=True).map(lambda tag: quote(f"<x-{tag} onclick=1>")),
    st.lists(st.sampled_from(HOSTILE + RAW), min_size=2, max_size=4).map(
        lambda parts: "".join(quote(p, safe="") if p in HOSTILE else p for p in parts)
    ),
)
param_name = st.one_of(
    st.sampled_from(PARAMS),
    st.sampled_from(["", "%ff", "%00", "model[]", "q%00", "sort ", "csrfmiddlewaretoken"]),
)
query = st.lists(st.tuples(param_name, hostile_value), min_size=1, max_size=6).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
)


def path_segment(valid: list[str]):
    """A path segment: a valid one, or something hostile in its place."""
    return st.one_of(
        st.sampled_from(valid).map(lambda text: quote(text, safe=":")),
        st.sampled_from(HOSTILE).filter(bool).map(lambda text: quote(text, safe="")),
        st.sampled_from(RAW),
        st.text(min_size=1, max_size=30).map(lambda text: quote(text, safe="")),
        st.integers(min_value=-(10**25), max_value=10**25).map(str),
    )


@pytest.fixture(scope="module", autouse=True)
def report_count(request):
    """Write the number of requests made to the terminal, after the module's tests."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = (
        plugins.get_plugin("terminalreporter"),
        plugins.get_plugin("capturemanager"),
    )
    if reporter is None or capture is None:
        return
    counts = ", ".join(f"{name}: {tried}" for name, tried in TRIED.items())
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n{sum(TRIED.values())} hostile requests ({counts})")


@pytest.fixture
def seeded(django_user_model):
    """A customer and a product with a few events each, made in one request of "actor"; a
    superuser and a staff user who may view customers only."""
    actor = django_user_model.objects.create_user("actor", password="pw")
    with pghistory.context(user=actor.pk, url="/shop/edit/") as shared:
        vera = Customer.objects.create(name="Vera", email="vera@example.com", city="Oslo")
        blend = Product.objects.create(
            name=SECRET[0], sku=SECRET[1], price=9, category="coffee", description=STORED_MARKUP
        )
        vera.city = "Bergen"
        vera.save()
        blend.stock = 3
        blend.save()
    gone = Customer.objects.create(name="Gus", email="gus@example.com")
    gone_pk = gone.pk
    gone.delete()
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer"))
    shop_events = Events.objects.filter(pgh_obj_model__startswith="shop.").order_by("pgh_id")
    superuser = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    clients = {}
    for kind, user in (("superuser", superuser), ("viewer", viewer)):
        clients[kind] = Client()
        clients[kind].force_login(user)
    return {
        "clients": clients,
        "objects": [
            f"shop.customer/{vera.pk}",
            f"shop.product/{blend.pk}",
            f"shop.customer/{gone_pk}",
        ],
        "slugs": list(shop_events.values_list("pgh_slug", flat=True)),
        "context": str(shared.id),
        "users_keys": ["actor", "root", str(actor.pk), "viewer"],
    }


def pages(seeded) -> list[str]:
    """Every page with valid path segments, below the surface's root."""
    routes = ["", "export.csv", "export.jsonl", "stats/", f"context/{seeded['context']}/"]
    routes += ["model/shop.customer/as-of/", "model/shop.product/as-of/"]
    routes += [f"context/{seeded['context']}/undo/", f"context/{seeded['context']}/caused/"]
    for obj in seeded["objects"]:
        routes += [f"object/{obj}/", f"object/{obj}/as-of/", f"object/{obj}/compare/"]
    for slug in seeded["slugs"]:
        routes += [f"event/{quote(slug, safe=':')}/", f"event/{quote(slug, safe=':')}/revert/"]
    routes += [f"user/{key}/" for key in seeded["users_keys"]]
    return [surface + route for surface in SURFACES for route in routes]


def check(response, user_kind: str, sent: str = "") -> None:
    """No server error, no exception text, no markup echoed, and no event of a model the user
    may not see."""
    assert response.status_code != 500
    assert response.status_code in {200, 301, 302, 303, 400, 403, 404, 405, 409}
    content = body(response)
    assert LEAKS.findall(content) == []
    for script in SCRIPTS:
        assert script not in content
    for tag in re.findall(r"<x-[a-z]{6} onclick=1>", sent):
        assert tag not in content
    if response.get("Content-Type", "").startswith("text/html"):
        # A stored value with markup (the product's description) is shown as text.
        assert STORED_MARKUP not in content
    if user_kind == "viewer":
        assert [secret for secret in SECRET if secret in content] == []


def tally(test_name: str, requests: int = 1) -> None:
    TRIED[test_name] = TRIED.get(test_name, 0) + requests


SETTINGS = settings(
    max_examples=75,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def get(seeded, url: str, user_kind: str = "superuser"):
    """GET `url` (its query string sent as it is) and check the answer."""
    response = seeded["clients"][user_kind].get(url)
    check(response, user_kind, unquote_plus(url))
    return response


MODEL_KEYS = ["shop.customer", "shop.product", "shop.order", "auth.user", "pghistory.events"]


def bad_slugs() -> list[str]:
    """Event slugs of event models and other models, with ids that are not ids."""
    labels = [model._meta.label for model in event_models()][:3]
    return [
        f"{label}:{suffix}"
        for label in [*labels, "pghistory.Events", "pghistory.Context", "shop.Customer"]
        for suffix in ["1", "-1", "", "1.0", "1_0", "99999999999999999999", " 7", "1\x00"]
    ]


# -- Generated: hostile values in random combinations ---------------------------------------


@pytest.mark.parametrize("user_kind", ["superuser", "viewer"])
@SETTINGS
@given(data=st.data())
def test_hostile_query_parameters_on_every_page(seeded, user_kind, data):
    page = data.draw(st.sampled_from(pages(seeded)), label="page")
    params = data.draw(query, label="query")
    events = Events.objects.count()

    get(seeded, f"{page}?{params}", user_kind)
    tally(f"generated query strings ({user_kind})")

    assert Events.objects.count() == events


@pytest.mark.parametrize("user_kind", ["superuser", "viewer"])
@SETTINGS
@given(data=st.data())
def test_hostile_path_segments(seeded, user_kind, data):
    surface = data.draw(st.sampled_from(SURFACES), label="surface")
    pks = [obj.partition("/")[2] for obj in seeded["objects"]]
    route = data.draw(
        st.one_of(
            st.tuples(
                st.sampled_from(["object/{}/{}/", "object/{}/{}/as-of/", "object/{}/{}/compare/"]),
                path_segment(MODEL_KEYS),
                path_segment(pks),
            ).map(lambda parts: parts[0].format(parts[1], parts[2])),
            st.tuples(
                st.sampled_from(["event/{}/", "event/{}/revert/"]),
                path_segment(seeded["slugs"] + bad_slugs()),
            ).map(lambda parts: parts[0].format(parts[1])),
            st.tuples(
                st.sampled_from(["context/{}/", "context/{}/caused/"]),
                st.one_of(st.uuids().map(str), path_segment([seeded["context"]])),
            ).map(lambda parts: parts[0].format(parts[1])),
            path_segment(seeded["users_keys"]).map("user/{}/".format),
        ),
        label="route",
    )
    params = data.draw(st.one_of(st.just(""), query), label="query")

    get(seeded, f"{surface}{route}?{params}" if params else f"{surface}{route}", user_kind)
    tally(f"generated paths ({user_kind})")


@pytest.mark.parametrize("user_kind", ["superuser", "viewer"])
@settings(SETTINGS, max_examples=30)
@given(data=st.data())
def test_hostile_revert_forms(seeded, user_kind, data):
    """A revert or restore posted with a confirmation that does not match the object as it
    is (or with hostile fields) writes nothing."""
    surface = data.draw(st.sampled_from(SURFACES), label="surface")
    slug = data.draw(st.sampled_from(seeded["slugs"]), label="slug")
    # A non-empty `state` that is no fingerprint: a stale or forged confirmation.
    state = data.draw(hostile_value.filter(lambda value: unquote_plus(value) != ""), label="state")
    extra = data.draw(st.lists(st.tuples(param_name, hostile_value), max_size=3), label="extra")
    form = "&".join([f"state={state}", *(f"{name}={value}" for name, value in extra)])
    rows = {
        model: list(model._base_manager.order_by("pk").values()) for model in (Customer, Product)
    }
    events = Events.objects.count()

    response = seeded["clients"][user_kind].post(
        f"{surface}event/{quote(slug, safe=':')}/revert/",
        form,
        content_type="application/x-www-form-urlencoded",
    )
    tally(f"generated revert forms ({user_kind})")

    check(response, user_kind, unquote_plus(form))
    assert response.status_code in {403, 404, 409}
    assert Events.objects.count() == events
    assert {
        model: list(model._base_manager.order_by("pk").values()) for model in (Customer, Product)
    } == rows


# -- Swept: every listed hostile value in every place ---------------------------------------

SEGMENTS = [quote(value, safe="") for value in HOSTILE if value] + RAW


@pytest.mark.parametrize("slot", ["model", "pk", "slug", "user"])
def test_every_hostile_value_in_every_path_segment(seeded, slot):
    customer_pk = seeded["objects"][0].partition("/")[2]
    for index, segment in enumerate(SEGMENTS + [quote(slug, safe="") for slug in bad_slugs()]):
        surface = SURFACES[index % 2]
        suffix = ["", "as-of/", "compare/"][index % 3]
        route = {
            "model": f"object/{segment}/{customer_pk}/{suffix}",
            "pk": f"object/shop.customer/{segment}/{suffix}",
            "slug": f"event/{segment}/{'revert/' if index // 2 % 2 else ''}",
            "user": f"user/{segment}/",
        }[slot]

        get(seeded, surface + route)
        tally("swept path segments")


def _made_for(value: str) -> str:
    """The sort a cursor names, so that the page reads the values in it."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return "-time"
    made_for = decoded[0] if isinstance(decoded, list) and decoded else None
    return made_for if made_for in ("time", "-time", "model", "-model") else "-time"


#: Everything a context caused (its page reads the browser's parameters).
CAUSED = "context/{context}/caused/"

#: (parameter, the pages that read it, the values to try): each value alone.
TYPED = [
    (
        "at",
        ["object/{customer}/as-of/", "object/{gone}/as-of/", "model/shop.customer/as-of/"],
        DATES + GENERIC,
    ),
    ("since", ["", "user/actor/", "export.csv"], DATES),
    ("until", ["", "user/actor/", "export.csv"], DATES),
    ("after", ["", "object/{customer}/", "context/{context}/", "user/actor/", CAUSED], CURSORS),
    ("before", ["", "object/{customer}/", "context/{context}/", "user/actor/", CAUSED], CURSORS),
    ("after", ["model/shop.customer/as-of/"], KEYS + GENERIC),
    ("before", ["model/shop.customer/as-of/"], KEYS + GENERIC),
    ("event", ["object/{customer}/compare/"], GENERIC + KEYS),
    ("related", ["object/{customer}/"], ["1", "0", "", "\x00", "1" * 400]),
    ("last", ["", "context/{context}/", CAUSED], ["1", "0", "x", "\x00"]),
]


@pytest.mark.parametrize(("param", "routes", "values"), TYPED, ids=[case[0] for case in TYPED])
def test_every_typed_value_where_it_is_read(seeded, param, routes, values):
    places = {
        "customer": seeded["objects"][0],
        "gone": seeded["objects"][2],
        "context": seeded["context"],
    }
    for index, value in enumerate(values):
        surface = SURFACES[index % 2]
        params = {param: value}
        if param in ("after", "before"):
            params["sort"] = _made_for(value)
        elif param == "event":
            params = {"event": [value, seeded["slugs"][0]]}
        for route in routes:
            if route.startswith("model/") and param != "at":  # (a table's page needs a moment)
                params = {"at": "2026-01-01", **params}
            query = urlencode(params, doseq=True, quote_via=quote)
            get(seeded, f"{surface}{route.format(**places)}?{query}")
            tally("swept typed values")


FILTERS = ["model", "label", "user", "period", "since", "until", "context", "url", "object"]
FILTERS += ["field", "q", "caused"]

#: (the values, the filters to try each of them in alone).
GROUPS = {
    "generic": (GENERIC, FILTERS),
    "raw": ([unquote_plus(raw) for raw in RAW], FILTERS),
    "keys": (KEYS, ["model", "label", "user", "object", "field"]),
    "dates": (DATES, ["since", "until"]),
    "sorts and uuids": (SORTS + UUIDS, ["sort", "context", "caused"]),
    "cursors": (CURSORS, []),
}


@pytest.mark.parametrize("group", GROUPS)
def test_every_hostile_value_in_every_filter(seeded, group):
    """Each value in each filter alone, in the export (which filters as the browser does),
    then in every filter and page parameter at once, in the browser (which shows each refusal
    and a chip per filter)."""
    values, alone = GROUPS[group]
    for index, value in enumerate(values):
        for name in alone:
            get(seeded, f"/history/export.csv?{urlencode({name: value})}")
        get(seeded, f"{SURFACES[index % 2]}?{urlencode(dict.fromkeys(PARAMS, value))}")
        tally("swept filters", len(alone) + 1)


# -- Markup sent in never comes back as markup ----------------------------------------------

#: Pages that read query parameters, below the surface's root.
READING_PAGES = [
    "",
    "export.csv",
    "export.jsonl",
    "context/{context}/",
    CAUSED,
    "user/actor/",
    "object/{customer}/",
    "object/{customer}/as-of/",
    "object/{customer}/compare/",
    "model/shop.customer/as-of/",
]


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("route", READING_PAGES)
def test_markup_in_any_parameter_never_comes_back_as_markup(seeded, surface, route):
    """All parameters at once set to each script fragment; on the standalone browser and
    export, each parameter alone too."""
    url = surface + route.format(customer=seeded["objects"][0], context=seeded["context"])
    queries = [dict.fromkeys(PARAMS, script) for script in SCRIPTS]
    if surface == SURFACES[0] and route in ("", "export.csv"):
        queries += [{name: SCRIPTS[0]} for name in PARAMS]

    for params in queries:
        get(seeded, f"{url}?{urlencode(params)}")
        tally("markup in parameters")
