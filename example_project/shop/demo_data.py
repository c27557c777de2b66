"""Believable made-up data for the `seed` command: a coffee roaster's catalogue, its customers
and its staff. Everything is drawn from a `random.Random`, so one seed gives the same shop."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

SHOP_NAME = "Kettle & Bean Roasters"
STAFF_EMAIL_DOMAIN = "kettleandbean.example"

#: (username, first name, last name): the shop manager first, then fulfilment, customer care
#: and the warehouse.
STAFF = [
    ("maria.jensen", "Maria", "Jensen"),
    ("tomas.ortega", "Tomás", "Ortega"),
    ("aiko.tanaka", "Aiko", "Tanaka"),
    ("ben.okafor", "Ben", "Okafor"),
]

TAGS = [
    "single origin",
    "blend",
    "decaf",
    "organic",
    "fair trade",
    "espresso",
    "filter",
    "light roast",
    "medium roast",
    "dark roast",
    "gift idea",
    "bestseller",
    "new",
    "limited edition",
    "staff pick",
    "plastic-free packaging",
]

#: (origin, region, process, tasting notes)
ORIGINS = [
    ("Ethiopia", "Yirgacheffe", "washed", ["jasmine", "bergamot", "lemon"]),
    ("Ethiopia", "Guji", "natural", ["blueberry", "cocoa", "honey"]),
    ("Kenya", "Nyeri AA", "washed", ["blackcurrant", "grapefruit", "tomato"]),
    ("Colombia", "Huila", "washed", ["red apple", "caramel", "panela"]),
    ("Colombia", "Nariño", "honey", ["orange", "brown sugar", "cherry"]),
    ("Guatemala", "Antigua", "washed", ["milk chocolate", "almond", "plum"]),
    ("Brazil", "Cerrado Mineiro", "natural", ["hazelnut", "cocoa", "toffee"]),
    ("Costa Rica", "Tarrazú", "honey", ["peach", "cane sugar", "lime"]),
    ("Rwanda", "Nyamasheke", "washed", ["red grape", "hibiscus", "black tea"]),
    ("Burundi", "Kayanza", "washed", ["cranberry", "rooibos", "molasses"]),
    ("Peru", "Cajamarca", "washed", ["walnut", "dark chocolate", "fig"]),
    ("Honduras", "Marcala", "washed", ["apricot", "vanilla", "milk chocolate"]),
    ("El Salvador", "Santa Ana", "pulped natural", ["praline", "red berries", "cream"]),
    ("Panama", "Boquete", "washed", ["jasmine", "mango", "honeysuckle"]),
    ("Mexico", "Chiapas", "washed", ["cocoa nib", "pecan", "orange peel"]),
    ("Indonesia", "Sumatra Mandheling", "wet-hulled", ["cedar", "dark chocolate", "spice"]),
]
FARMS = [
    "Finca El Mirador",
    "La Esperanza",
    "Hacienda Santa Clara",
    "Kiamabara Cooperative",
    "Buna Boka Station",
    "Finca Las Nubes",
    "Gakenke Washing Station",
    "Sítio Boa Vista",
    "Finca La Loma",
    "El Paraíso",
]
BLENDS = [
    ("House Espresso", "espresso", "medium", ["milk chocolate", "hazelnut", "caramel"]),
    ("Morning Filter", "filter", "light", ["stone fruit", "honey", "citrus"]),
    ("Old Harbour", "espresso", "dark", ["dark chocolate", "molasses", "smoke"]),
    ("Sunday Brunch", "filter", "medium", ["red apple", "toffee", "almond"]),
    ("Decaf Swiss Water", "espresso", "medium", ["cocoa", "brown sugar", "raisin"]),
    ("Night Owl", "espresso", "dark", ["cocoa", "liquorice", "cherry"]),
]
COFFEE_FORMATS = [
    ("250 g whole bean", 250, "whole bean", Decimal("1.0")),
    ("1 kg whole bean", 1000, "whole bean", Decimal("3.4")),
    ("250 g ground for filter", 250, "ground", Decimal("1.0")),
]
TEAS = [
    ("Darjeeling First Flush", "India", 5),
    ("Assam Breakfast", "India", 4),
    ("Sencha Kagoshima", "Japan", 2),
    ("Genmaicha", "Japan", 3),
    ("Gyokuro Yame", "Japan", 2),
    ("Earl Grey Cream", "Sri Lanka", 4),
    ("Ceylon Uva", "Sri Lanka", 4),
    ("Rooibos Vanilla", "South Africa", 6),
    ("Jasmine Pearls", "China", 3),
    ("Tie Guan Yin Oolong", "China", 4),
    ("Lapsang Souchong", "China", 4),
    ("Moroccan Mint", "China", 3),
]
TEA_FORMATS = [("100 g loose leaf", 100, Decimal("1.0")), ("20 pyramid bags", 50, Decimal("0.8"))]
#: (name, brand, low price, high price)
EQUIPMENT = [
    ("V60 Dripper 02, ceramic", "Hario", 22, 28),
    ("V60 Dripper 02, plastic", "Hario", 8, 10),
    ("Chemex Classic 6-Cup", "Chemex", 45, 52),
    ("AeroPress Original", "AeroPress", 38, 42),
    ("AeroPress Go", "AeroPress", 40, 45),
    ("Comandante C40 Hand Grinder", "Comandante", 240, 275),
    ("Encore ESP Grinder", "Baratza", 175, 199),
    ("Stagg EKG Electric Kettle", "Fellow", 165, 189),
    ("Moka Express 3-Cup", "Bialetti", 28, 34),
    ("French Press 1 l", "Bodum", 29, 39),
    ("Kalita Wave 185 Dripper", "Kalita", 30, 36),
    ("Clever Dripper", "Clever", 22, 26),
    ("Pearl Brewing Scale", "Acaia", 149, 169),
    ("Black Mirror Basic Scale", "Timemore", 45, 55),
    ("Cold Brew Jar 1 l", "Hario", 24, 29),
    ("Gooseneck Kettle 0.9 l", "Timemore", 55, 65),
]
ACCESSORIES = [
    ("V60 Paper Filters 02 (100 pcs)", 5, 7),
    ("Chemex Bonded Filters (100 pcs)", 11, 13),
    ("Kalita Wave Filters 185 (100 pcs)", 8, 10),
    ("Espresso Machine Cleaning Tablets (120 pcs)", 14, 17),
    ("Descaler 1 l", 12, 15),
    ("Milk Jug 600 ml", 18, 24),
    ("Tamper 58 mm", 29, 39),
    ("Knock Box", 22, 28),
    ("Travel Mug 350 ml", 24, 32),
    ("Ceramic Cup Set (4 pcs)", 32, 38),
    ("Coffee Canister 500 g", 19, 25),
    ("Cupping Spoon", 9, 12),
    ("Gift Card 25 EUR", 25, 25),
    ("Gift Card 50 EUR", 50, 50),
]
BOOKS = [
    ("The World Atlas of Coffee", 28, 32),
    ("The Coffee Roaster's Companion", 34, 38),
    ("The Professional Barista's Handbook", 36, 42),
    ("Craft Coffee: A Manual", 21, 25),
    ("The Tea Book", 19, 24),
    ("Water for Coffee", 24, 29),
]

FIRST_NAMES = [
    "Anna", "Lukas", "Sofia", "Jonas", "Emma", "Noah", "Mia", "Elias", "Lea", "Finn",
    "Hannah", "Leon", "Clara", "Felix", "Ida", "Paul", "Marta", "Jakub", "Zofia", "Mateo",
    "Lucía", "Hugo", "Chloé", "Louis", "Giulia", "Marco", "Sara", "Davide", "Freya", "Oscar",
    "Astrid", "Magnus", "Nora", "Emil", "Aylin", "Deniz", "Yusuf", "Amira", "Kofi", "Ama",
    "Priya", "Arjun", "Mei", "Haruto", "Yuki", "Olga", "Dmitri", "Ingrid", "Sven", "Eva",
    "Tomasz", "Katarzyna", "Inês", "João", "Niamh", "Cian", "Fatima", "Omar", "Liam", "Maja",
]  # fmt: skip
LAST_NAMES = [
    "Müller", "Schmidt", "Weber", "Fischer", "Becker", "Hoffmann", "Novak", "Kowalski",
    "Nowak", "García", "Martínez", "López", "Dubois", "Moreau", "Laurent", "Rossi", "Bianchi",
    "Romano", "Jansen", "de Vries", "Bakker", "Andersen", "Nielsen", "Larsen", "Johansson",
    "Lindberg", "Virtanen", "Korhonen", "Yılmaz", "Demir", "Mensah", "Owusu", "Patel",
    "Sharma", "Chen", "Wang", "Sato", "Suzuki", "Ivanova", "Petrov", "Horvat", "Kovač",
    "Silva", "Santos", "O'Brien", "Murphy", "Haddad", "Khalil", "Walsh", "Berg",
]  # fmt: skip
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "post.example"]
#: (city, country, postcode digits, postcode prefix, streets)
CITIES = [
    ("Berlin", "Germany", 5, "10", ["Kastanienallee", "Oderberger Straße", "Bergmannstraße"]),
    ("Hamburg", "Germany", 5, "20", ["Schanzenstraße", "Ottenser Hauptstraße", "Lange Reihe"]),
    ("Munich", "Germany", 5, "80", ["Gärtnerplatz", "Türkenstraße", "Westendstraße"]),
    ("Leipzig", "Germany", 5, "04", ["Karl-Heine-Straße", "Gottschedstraße"]),
    ("Vienna", "Austria", 4, "10", ["Neubaugasse", "Kettenbrückengasse", "Taborstraße"]),
    ("Zurich", "Switzerland", 4, "80", ["Langstrasse", "Josefstrasse"]),
    ("Amsterdam", "Netherlands", 4, "10", ["Prinsengracht", "Haarlemmerdijk", "Ferdinand Bolstraat"]),
    ("Utrecht", "Netherlands", 4, "35", ["Oudegracht", "Twijnstraat"]),
    ("Copenhagen", "Denmark", 4, "2", ["Jægersborggade", "Istedgade", "Blågårdsgade"]),
    ("Stockholm", "Sweden", 5, "11", ["Götgatan", "Hornsgatan"]),
    ("Lyon", "France", 5, "690", ["Rue de la République", "Rue Mercière"]),
    ("Ghent", "Belgium", 4, "90", ["Veldstraat", "Korenmarkt"]),
    ("Milan", "Italy", 5, "201", ["Via Tortona", "Corso di Porta Ticinese"]),
    ("Barcelona", "Spain", 5, "080", ["Carrer de Verdi", "Carrer del Parlament"]),
    ("Lisbon", "Portugal", 4, "11", ["Rua da Rosa", "Rua do Poço dos Negros"]),
    ("Prague", "Czechia", 5, "120", ["Vinohradská", "Krymská"]),
    ("Kraków", "Poland", 5, "31", ["ulica Józefa", "ulica Floriańska"]),
    ("Dublin", "Ireland", 3, "D0", ["Camden Street", "Capel Street"]),
]  # fmt: skip
CUSTOMER_NOTES = [
    "Prefers delivery after 5 pm.",
    "Leave parcels with the neighbour at no. 4.",
    "Runs a small café; ask before substituting.",
    "Allergic to hazelnut: no flavoured samples, please.",
    "Wholesale enquiry pending.",
    "Wants invoices by email only.",
    "Loves light roasts; send new single origins first.",
]


@dataclass
class ProductData:
    name: str
    sku: str
    category: str
    price: Decimal
    stock: int
    description: str
    attributes: dict
    tags: list[str] = field(default_factory=list)


@dataclass
class CustomerData:
    name: str
    email: str
    city: str
    address: str
    is_vip: bool
    notes: str


def ascii_slug(text: str) -> str:
    """`Chloé O'Brien` -> `chloe.obrien`."""
    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    kept = "".join(ch for ch in flat.lower() if ch.isalnum() or ch == " ")
    return ".".join(kept.split())


def _price(rng: random.Random, low: float, high: float) -> Decimal:
    """A shop price between low and high, ending in .50 or .90 (whole amounts stay whole)."""
    if low == high:
        return Decimal(low).quantize(Decimal("0.01"))
    euros = rng.randint(int(low), int(high))
    return Decimal(euros) + rng.choice([Decimal("0.50"), Decimal("0.90")])


def _coffee_tags(rng, roast, single_origin, process=None):
    tags = ["single origin" if single_origin else "blend", f"{roast} roast"]
    tags.append("filter" if roast == "light" else "espresso")
    if rng.random() < 0.3:
        tags.append("organic")
    if rng.random() < 0.35:
        tags.append("fair trade")
    if rng.random() < 0.15:
        tags.append(rng.choice(["bestseller", "staff pick", "plastic-free packaging"]))
    if process == "decaf":
        tags.append("decaf")
    return tags


def catalogue(rng: random.Random) -> dict[str, list[ProductData]]:
    """Every product the shop could sell, by category, each list shuffled."""
    coffee, tea, equipment, accessories, books = [], [], [], [], []
    for origin, region, process, notes in ORIGINS:
        roast = rng.choice(["light", "light", "medium"])
        base = _price(rng, 9, 14)
        for label, grams, grind, factor in COFFEE_FORMATS:
            coffee.append(
                ProductData(
                    name=f"{origin} {region}, {label}",
                    sku="",
                    category="coffee",
                    price=(base * factor).quantize(Decimal("0.10")),
                    stock=0,
                    description=(
                        f"{process.capitalize()} {origin} from {region}, {roast} roast."
                        f" Notes of {', '.join(notes[:-1])} and {notes[-1]}."
                    ),
                    attributes={
                        "origin": origin,
                        "region": region,
                        "process": process,
                        "roast": roast,
                        "weight_g": grams,
                        "grind": grind,
                        "tasting_notes": notes,
                    },
                    tags=_coffee_tags(rng, roast, single_origin=True),
                )
            )
        for farm in rng.sample(FARMS, 4):
            lot = rng.randint(2, 40)
            coffee.append(
                ProductData(
                    name=f"{origin} {farm} (lot {lot}), 250 g",
                    sku="",
                    category="coffee",
                    price=_price(rng, 14, 24),
                    stock=0,
                    description=(
                        f"A small lot from {farm} in {region}, {origin}; {process}."
                        f" In the cup: {', '.join(notes)}."
                    ),
                    attributes={
                        "origin": origin,
                        "region": region,
                        "farm": farm,
                        "lot": lot,
                        "process": process,
                        "roast": "light",
                        "weight_g": 250,
                        "tasting_notes": notes,
                    },
                    tags=[*_coffee_tags(rng, "light", single_origin=True), "limited edition"],
                )
            )
    for name, use, roast, notes in BLENDS:
        base = _price(rng, 8, 12)
        for label, grams, grind, factor in COFFEE_FORMATS:
            tags = _coffee_tags(rng, roast, single_origin=False)
            if name.startswith("Decaf"):
                tags.append("decaf")
            coffee.append(
                ProductData(
                    name=f"{name} Blend, {label}",
                    sku="",
                    category="coffee",
                    price=(base * factor).quantize(Decimal("0.10")),
                    stock=0,
                    description=f"Our {name.lower()} blend for {use}: {', '.join(notes)}.",
                    attributes={"roast": roast, "weight_g": grams, "grind": grind, "use": use},
                    tags=tags,
                )
            )
    for name, origin, minutes in TEAS:
        base = _price(rng, 6, 14)
        for label, grams, factor in TEA_FORMATS:
            tea.append(
                ProductData(
                    name=f"{name}, {label}",
                    sku="",
                    category="tea",
                    price=(base * factor).quantize(Decimal("0.10")),
                    stock=0,
                    description=f"{name} from {origin}. Steep {minutes} minutes.",
                    attributes={"origin": origin, "weight_g": grams, "steep_minutes": minutes},
                    tags=rng.sample(["organic", "fair trade", "gift idea", "new"], 1),
                )
            )
    for name, brand, low, high in EQUIPMENT:
        equipment.append(
            ProductData(
                name=f"{brand} {name}",
                sku="",
                category="equipment",
                price=_price(rng, low, high),
                stock=0,
                description=f"{name} by {brand}.",
                attributes={"brand": brand, "warranty_years": rng.choice([1, 2, 2, 5])},
                tags=rng.sample(["gift idea", "bestseller", "staff pick", "new"], 2),
            )
        )
    for name, low, high in ACCESSORIES:
        accessories.append(
            ProductData(
                name=name,
                sku="",
                category="accessories",
                price=_price(rng, low, high),
                stock=0,
                description=name + ".",
                attributes={},
                tags=["gift idea"] if "Gift" in name or "Cup" in name else [],
            )
        )
    for title, low, high in BOOKS:
        books.append(
            ProductData(
                name=title,
                sku="",
                category="books",
                price=_price(rng, low, high),
                stock=0,
                description=f"{title} (hardcover).",
                attributes={"format": "hardcover", "language": "English"},
                tags=["gift idea"],
            )
        )
    by_category = {
        "coffee": coffee,
        "tea": tea,
        "equipment": equipment,
        "accessories": accessories,
        "books": books,
    }
    for products in by_category.values():
        rng.shuffle(products)
    return by_category


#: The share of each category in a catalogue of a given size.
CATEGORY_SHARES = {"coffee": 50, "tea": 15, "equipment": 15, "accessories": 14, "books": 6}
SKU_PREFIXES = {"coffee": "COF", "tea": "TEA", "equipment": "EQP", "accessories": "ACC", "books": "BOK"}  # fmt: skip


def choose_products(rng: random.Random, count: int) -> list[ProductData]:
    """`count` products (at most what the catalogue has) with every category represented."""
    by_category = catalogue(rng)
    available = sum(len(products) for products in by_category.values())
    count = min(count, available)
    quotas = {
        category: max(1, count * share // 100) for category, share in CATEGORY_SHARES.items()
    }
    chosen: list[ProductData] = []
    for category, products in by_category.items():
        chosen.extend(products[: quotas[category]])
    # Fill up (or trim) to the exact count from what is left, coffee first.
    leftovers = [p for c, products in by_category.items() for p in products[quotas[c] :]]
    chosen = (chosen + leftovers)[:count]
    counters: dict[str, int] = {}
    for product in chosen:
        counters[product.category] = counters.get(product.category, 0) + 1
        product.sku = f"{SKU_PREFIXES[product.category]}-{counters[product.category]:04d}"
        product.stock = rng.randint(20, 160) if product.category != "books" else rng.randint(5, 30)
        product.tags = list(dict.fromkeys(product.tags))
    return chosen


def customers(rng: random.Random, count: int) -> list[CustomerData]:
    """`count` customers with unique email addresses."""
    result = []
    used_emails: set[str] = set()
    for _ in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = ascii_slug(f"{first} {last}")
        domain = rng.choice(EMAIL_DOMAINS)
        email = f"{local}@{domain}"
        number = 2
        while email in used_emails:
            email = f"{local}{number}@{domain}"
            number += 1
        used_emails.add(email)
        city = rng.choice(CITIES)
        result.append(
            CustomerData(
                name=f"{first} {last}",
                email=email,
                city=city[0],
                address=address(rng, city[0]),
                is_vip=rng.random() < 0.05,
                notes=rng.choice(CUSTOMER_NOTES) if rng.random() < 0.08 else "",
            )
        )
    return result


def address(rng: random.Random, city_name: str) -> str:
    """A street address in `city_name`, three lines."""
    city, country, digits, prefix, streets = next(c for c in CITIES if c[0] == city_name)
    postcode = prefix + "".join(str(rng.randint(0, 9)) for _ in range(digits - len(prefix)))
    return f"{rng.choice(streets)} {rng.randint(1, 140)}\n{postcode} {city}\n{country}"


def city_names() -> list[str]:
    return [city[0] for city in CITIES]
