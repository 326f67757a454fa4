"""What the demo marketplace sells: the category tree with its attribute schemas, and the
word lists, places and odds the generator invents listings from."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from listings.attributes import validate_attribute_schema


def attr(key, label, kind, *, unit=None, options=None, required=False) -> dict:
    entry = {"key": key, "label": label, "type": kind}
    if unit:
        entry["unit"] = unit
    if options:
        entry["options"] = list(options)
    if required:
        entry["required"] = True
    return entry


# A linked pair: ``brand -> [model | (model, {attribute: value}), ...]``.
Linked = tuple[str, str, dict[str, list]]


@dataclass
class Spec:
    """A category, its own attributes, and (for leaves) how to invent its listings.

    ``numbers`` hold ``(low, high, step)`` ranges or a list of choices; ``options`` narrow
    (and, by repetition, weight) an enum's options; ``texts`` list values of text
    attributes; ``booleans`` give the chance of True; ``skip`` names inherited attributes
    that make no sense here; ``linked`` ties one attribute's value to another's (a model
    to its brand), optionally with attribute overrides per value.
    """

    name: str
    slug: str
    icon: str = ""
    schema: list[dict] = field(default_factory=list)
    children: list[Spec] = field(default_factory=list)
    kind: str = "goods"  # goods | vehicle | service: description and pricing style
    weight: int = 0
    nouns: list[str] = field(default_factory=list)
    adjectives: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    item: str = "{noun}"
    features: list[str] = field(default_factory=list)
    numbers: dict[str, tuple | list] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    booleans: dict[str, float] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()
    linked: Linked | None = None
    adjust: Callable[[dict, random.Random], None] | None = None
    # (attribute, {value: (low, high)}): the price range follows that attribute's value.
    price_by: tuple[str, dict[str, tuple[float, float]]] | None = None
    # Price kept per year of age, for specs with a "year" attribute.
    depreciation: float = 0.93
    price: tuple[float, float] = (20, 500)
    pricing: dict[str, tuple[int, tuple[float, float] | None]] = field(
        default_factory=lambda: {"fixed": (65, None), "negotiable": (35, None)}
    )
    contact_rate: float = 0.03


GOODS_CONDITION = ["New", "Like new", "Good", "Fair", "For parts"]
FURNITURE_CONDITIONS = ["New"] + ["Like new"] * 3 + ["Good"] * 5 + ["Fair"] * 2
ELECTRONICS_CONDITIONS = ["New", "Open box"] + ["Like new"] * 4 + ["Good"] * 4 + ["Fair"] * 2 + ["For parts"]
HOME_CONDITIONS = ["New"] * 2 + ["Like new"] * 3 + ["Good"] * 4 + ["Fair"]

FURNITURE_ADJECTIVES = [
    "Mid-century",
    "Scandinavian",
    "Industrial",
    "Minimalist",
    "Vintage",
    "Modern",
    "Rustic",
    "Compact",
    "Handmade",
    "Classic",
]
ELECTRONICS_ADJECTIVES = ["Mint", "Clean", "Barely used", "Boxed", "Refurbished", "Well kept"]


def _laptop_processor(attributes: dict, rng: random.Random) -> None:
    if "processor" in attributes:
        apple = attributes.get("brand") == "Apple"
        choices = [p for p in LAPTOP_PROCESSORS if p.startswith("Apple") == apple]
        attributes["processor"] = rng.choice(choices)


CURRENT_YEAR = 2025
LAPTOP_PROCESSORS = [
    "Apple M1",
    "Apple M2",
    "Apple M3",
    "Intel Core i5",
    "Intel Core i7",
    "Intel Core i9",
    "AMD Ryzen 5",
    "AMD Ryzen 7",
]


def _models(table: dict[str, list[tuple]], *keys: str) -> dict[str, list]:
    """``{brand: [(model, value, ...)]}`` as a linked mapping: a model sets ``keys`` (None: no value)."""
    return {
        brand: [
            (row[0], {k: v for k, v in zip(keys, row[1:], strict=False) if v is not None}) for row in rows
        ]
        for brand, rows in table.items()
    }


PHONE_MODELS = _models(
    {
        "Apple": [
            ("iPhone 13", 6.1),
            ("iPhone 14", 6.1),
            ("iPhone 14 Pro", 6.1),
            ("iPhone 15", 6.1),
            ("iPhone 15 Pro Max", 6.7),
            ("iPhone SE", 4.7),
        ],
        "Samsung": [
            ("Galaxy S23", 6.1),
            ("Galaxy S24 Ultra", 6.8),
            ("Galaxy A54", 6.4),
            ("Galaxy Z Flip5", 6.7),
        ],
        "Google": [("Pixel 7", 6.3), ("Pixel 7a", 6.1), ("Pixel 8", 6.2), ("Pixel 8 Pro", 6.7)],
        "OnePlus": [("OnePlus 11", 6.7), ("OnePlus 12", 6.8), ("Nord 3", 6.7)],
        "Xiaomi": [("Redmi Note 13", 6.67), ("13T", 6.67)],
        "Sony": [("Xperia 1 V", 6.5), ("Xperia 10 V", 6.1)],
    },
    "screen_size",
)
LAPTOP_MODELS = _models(
    {
        "Apple": [("MacBook Air", 13.6), ("MacBook Pro 14", 14.2), ("MacBook Pro 16", 16.2)],
        "Dell": [("XPS 13", 13.4), ("XPS 15", 15.6), ("Latitude 7440", 14.0), ("Inspiron 15", 15.6)],
        "Lenovo": [
            ("ThinkPad X1 Carbon", 14.0),
            ("ThinkPad T14", 14.0),
            ("Yoga 7", 14.0),
            ("Legion 5", 15.6),
        ],
        "HP": [("Spectre x360", 13.5), ("EliteBook 840", 14.0), ("Pavilion 15", 15.6)],
        "ASUS": [("ZenBook 14", 14.0), ("ROG Zephyrus G14", 14.0)],
        "Microsoft": [("Surface Laptop 5", 13.5)],
    },
    "screen_size",
)
CAR_MODELS = _models(
    {
        "Toyota": [
            ("Corolla", "Sedan"),
            ("RAV4", "SUV"),
            ("Camry", "Sedan"),
            ("Prius", "Hatchback", "Hybrid"),
            ("Yaris", "Hatchback"),
        ],
        "Honda": [("Civic", "Sedan"), ("CR-V", "SUV"), ("Accord", "Sedan"), ("Jazz", "Hatchback")],
        "Ford": [
            ("Focus", "Hatchback"),
            ("Fiesta", "Hatchback"),
            ("Mustang", "Coupe"),
            ("F-150", "Pickup"),
            ("Transit", "Van", "Diesel"),
        ],
        "Volkswagen": [
            ("Golf", "Hatchback"),
            ("Polo", "Hatchback"),
            ("Passat", "Wagon"),
            ("Tiguan", "SUV"),
            ("ID.3", "Hatchback", "Electric"),
        ],
        "BMW": [
            ("3 Series", "Sedan"),
            ("X3", "SUV"),
            ("1 Series", "Hatchback"),
            ("i3", "Hatchback", "Electric"),
        ],
        "Tesla": [("Model 3", "Sedan", "Electric"), ("Model Y", "SUV", "Electric")],
        "Mercedes-Benz": [("C-Class", "Sedan"), ("A-Class", "Hatchback"), ("GLC", "SUV")],
        "Subaru": [("Outback", "Wagon"), ("Forester", "SUV")],
        "Hyundai": [("Ioniq 5", "SUV", "Electric"), ("Tucson", "SUV"), ("i30", "Hatchback")],
        "Mazda": [("MX-5", "Convertible"), ("CX-5", "SUV"), ("Mazda3", "Hatchback")],
        "Volvo": [("XC60", "SUV"), ("V60", "Wagon")],
        "Kia": [("Niro", "SUV", "Hybrid"), ("Sportage", "SUV")],
    },
    "body_type",
    "fuel",
)
BIKE_MODELS = _models(
    {
        "Trek": [("Marlin 7", "Mountain"), ("Domane AL 2", "Road"), ("FX 3", "Hybrid")],
        "Specialized": [("Rockhopper", "Mountain"), ("Allez", "Road"), ("Turbo Vado", "City", "Electric")],
        "Giant": [("Talon 2", "Mountain"), ("Escape 3", "Hybrid")],
        "Cannondale": [("Topstone", "Gravel"), ("Synapse", "Road")],
        "Brompton": [("C Line", "City")],
        "Canyon": [("Grizl", "Gravel"), ("Endurace", "Road")],
        "Riese & Muller": [("Load 60", "Cargo", "Electric")],
        "Woom": [("Woom 4", "Kids"), ("Woom 5", "Kids")],
    },
    "bike_type",
    "fuel",
)
BIKE_PRICES = {
    "Road": (250, 4000),
    "Mountain": (200, 3500),
    "Gravel": (400, 3500),
    "Hybrid": (150, 1200),
    "City": (200, 3500),
    "Cargo": (1500, 6500),
    "Kids": (80, 450),
}
AUDIO_BRANDS = {
    "Apple": ["Earbuds", "Headphones"],
    "Sony": ["Headphones", "Earbuds", "Turntable", "Soundbar"],
    "Bose": ["Headphones", "Earbuds", "Bluetooth speaker", "Soundbar"],
    "Sennheiser": ["Headphones", "Earbuds"],
    "JBL": ["Bluetooth speaker", "Earbuds", "Soundbar"],
    "Audio-Technica": ["Turntable", "Headphones"],
    "Sonos": ["Soundbar", "Bluetooth speaker"],
    "Marshall": ["Bluetooth speaker", "Headphones", "Amplifier"],
    "Yamaha": ["Amplifier", "Soundbar"],
}
AUDIO_PRICES = {
    "Headphones": (40, 450),
    "Earbuds": (30, 250),
    "Bluetooth speaker": (25, 400),
    "Turntable": (80, 900),
    "Amplifier": (100, 1500),
    "Soundbar": (80, 900),
}
KITCHEN_BRANDS = {
    "KitchenAid": ["Stand mixer", "Blender", "Toaster"],
    "De'Longhi": ["Espresso machine", "Toaster"],
    "Breville": ["Espresso machine", "Blender", "Toaster"],
    "Le Creuset": ["Cookware set", "Dinnerware set"],
    "Vitamix": ["Blender"],
    "Smeg": ["Toaster", "Stand mixer"],
    "Ninja": ["Air fryer", "Blender"],
    "Zwilling": ["Knife set", "Cookware set"],
}
KITCHEN_PRICES = {
    "Stand mixer": (120, 450),
    "Espresso machine": (80, 900),
    "Blender": (25, 400),
    "Cookware set": (60, 600),
    "Knife set": (40, 400),
    "Air fryer": (30, 180),
    "Dinnerware set": (25, 250),
    "Toaster": (15, 150),
}
GARDEN_BRANDS = {
    "Bosch": ["Lawn mower", "Hedge trimmer", "Pressure washer", "Leaf blower"],
    "Makita": ["Leaf blower", "Hedge trimmer", "Chainsaw"],
    "Stihl": ["Chainsaw", "Hedge trimmer", "Leaf blower"],
    "Husqvarna": ["Lawn mower", "Chainsaw"],
    "Ryobi": ["Leaf blower", "Hedge trimmer", "Lawn mower", "Pressure washer"],
    "Greenworks": ["Lawn mower", "Leaf blower"],
    "Gardena": ["Garden hose", "Hedge trimmer"],
    "Fiskars": ["Wheelbarrow", "Planter"],
}
GARDEN_PRICES = {
    "Lawn mower": (80, 900),
    "Hedge trimmer": (30, 250),
    "Leaf blower": (30, 300),
    "Pressure washer": (60, 500),
    "Chainsaw": (80, 700),
    "Wheelbarrow": (20, 120),
    "Garden hose": (10, 80),
    "Planter": (10, 150),
}
LIGHTING_PRICES = {
    "Floor lamp": (30, 900),
    "Table lamp": (20, 500),
    "Pendant light": (30, 900),
    "Wall sconce": (20, 400),
    "Chandelier": (100, 2500),
    "Desk lamp": (15, 300),
}
CAMERA_PRICES = {
    "Action": (80, 450),
    "Compact": (150, 1500),
    "Film": (80, 1500),
    "DSLR": (250, 2500),
    "Mirrorless": (350, 3500),
}
MOTORCYCLE_PRICES = {
    "Scooter": (2500, 6000),
    "Naked": (5000, 11000),
    "Sport": (8000, 18000),
    "Adventure": (9000, 20000),
    "Touring": (12000, 24000),
    "Cruiser": (8000, 16000),
}
UNPOWERED_TOOLS = ("Wheelbarrow", "Garden hose", "Planter")
# No electric model above is older than this: an older "year" moves forward.
ELECTRIC_SINCE = 2016


def _mileage(attributes: dict, rng: random.Random, per_year: tuple[int, int]) -> None:
    if "mileage" in attributes and "year" in attributes:
        age = max(0.3, CURRENT_YEAR - attributes["year"] + rng.random())
        attributes["mileage"] = int(age * rng.randint(*per_year) / 100) * 100


def _car_details(attributes: dict, rng: random.Random) -> None:
    if attributes.get("fuel") == "Electric" and attributes.get("year", CURRENT_YEAR) < ELECTRIC_SINCE:
        attributes["year"] = rng.randint(ELECTRIC_SINCE + 2, CURRENT_YEAR - 1)
    _mileage(attributes, rng, (8_000, 20_000))
    if "doors" in attributes:
        body = attributes.get("body_type")
        if body in ("Coupe", "Convertible"):
            attributes["doors"] = 2
        elif body == "Hatchback":
            attributes["doors"] = rng.choice([3, 5])
        else:
            attributes["doors"] = 4 if body in ("Sedan", "Pickup") else 5


def _motorcycle_mileage(attributes: dict, rng: random.Random) -> None:
    _mileage(attributes, rng, (2_000, 8_000))


def _kids_bike(attributes: dict, rng: random.Random) -> None:
    if attributes.get("bike_type") == "Kids":
        if "frame_size" in attributes:
            attributes["frame_size"] = rng.choice([26, 28, 30, 32])
        if "gears" in attributes:
            attributes["gears"] = rng.choice([1, 8])


def _film_camera(attributes: dict, rng: random.Random) -> None:
    if attributes.get("camera_type") == "Film":
        attributes.pop("megapixels", None)
        attributes.pop("shutter_count", None)


def _audio_wireless(attributes: dict, rng: random.Random) -> None:
    kind = attributes.get("audio_type")
    if "wireless" in attributes and kind in ("Earbuds", "Bluetooth speaker", "Turntable", "Amplifier"):
        attributes["wireless"] = kind in ("Earbuds", "Bluetooth speaker")


def _garden_power(attributes: dict, rng: random.Random) -> None:
    if "power_source" not in attributes:
        return
    if attributes.get("tool_type") in UNPOWERED_TOOLS:
        attributes["power_source"] = "Manual"
    elif attributes["power_source"] == "Manual":
        attributes["power_source"] = rng.choice(["Corded electric", "Battery", "Battery", "Petrol"])


FURNITURE = Spec(
    name="Furniture",
    slug="furniture",
    icon="sofa",
    schema=[
        attr("condition", "Condition", "enum", options=GOODS_CONDITION, required=True),
        attr(
            "material",
            "Material",
            "enum",
            options=[
                "Oak",
                "Walnut",
                "Pine",
                "Birch plywood",
                "Bamboo",
                "Metal",
                "Glass",
                "Leather",
                "Fabric",
                "Velvet",
                "Rattan",
                "Plastic",
            ],
        ),
        attr("width", "Width", "number", unit="in"),
        attr("depth", "Depth", "number", unit="in"),
        attr("height", "Height", "number", unit="in"),
        attr("brand", "Brand", "text"),
        attr("shipping_included", "Shipping included", "boolean"),
        attr("assembly_required", "Assembly required", "boolean"),
    ],
    children=[
        Spec(
            name="Desks",
            slug="desks",
            icon="desk",
            schema=[
                attr("adjustable_height", "Adjustable height", "boolean"),
                attr("drawers", "Drawers", "number"),
            ],
            weight=6,
            nouns=["desk", "writing desk", "standing desk", "computer desk", "corner desk", "L-shaped desk"],
            adjectives=FURNITURE_ADJECTIVES,
            titles=[
                "{material} {noun}",
                "{adjective} {material_l} {noun}",
                "{brand} {noun}",
                "{brand} {noun}, {width} in wide",
                "{adjective} {noun} in {material_l}",
            ],
            features=[
                "Cable tray underneath keeps the wires tidy.",
                "Plenty of room for two monitors and a laptop.",
                "Sturdy frame, no wobble even at full height.",
                "The top has a few light marks from normal use.",
                "Comes apart easily for transport.",
                "Fits nicely in a small home office.",
            ],
            numbers={"width": (36, 72, 2), "depth": (20, 32, 1), "height": (28, 48, 1), "drawers": (0, 4, 1)},
            options={
                "condition": FURNITURE_CONDITIONS,
                "material": [
                    "Oak",
                    "Oak",
                    "Walnut",
                    "Walnut",
                    "Pine",
                    "Birch plywood",
                    "Bamboo",
                    "Metal",
                    "Glass",
                ],
            },
            texts={"brand": ["IKEA", "Herman Miller", "Fully", "Uplift", "West Elm", "Steelcase", "Hay"]},
            booleans={"adjustable_height": 0.3, "shipping_included": 0.2, "assembly_required": 0.4},
            price=(60, 1200),
        ),
        Spec(
            name="Chairs",
            slug="chairs",
            icon="chair",
            schema=[
                attr("seat_height", "Seat height", "number", unit="in"),
                attr("armrests", "Armrests", "boolean"),
            ],
            weight=6,
            nouns=["office chair", "dining chair", "armchair", "lounge chair", "rocking chair", "bar stool"],
            adjectives=FURNITURE_ADJECTIVES,
            titles=[
                "{brand} {noun}",
                "{material} {noun}",
                "{adjective} {material_l} {noun}",
                "{brand} {noun} in {material_l}",
                "{adjective} {noun}",
            ],
            features=[
                "Very comfortable for long working days.",
                "Gas lift and tilt work perfectly.",
                "Upholstery has been professionally cleaned.",
                "Solid joints, nothing loose.",
                "A matching second chair is available too.",
            ],
            numbers={
                "width": (17, 34, 1),
                "depth": (18, 34, 1),
                "height": (30, 48, 1),
                "seat_height": (16, 21, 1),
            },
            options={
                "condition": FURNITURE_CONDITIONS,
                "material": [
                    "Oak",
                    "Walnut",
                    "Metal",
                    "Leather",
                    "Leather",
                    "Fabric",
                    "Fabric",
                    "Velvet",
                    "Rattan",
                ],
            },
            texts={"brand": ["Herman Miller", "Steelcase", "IKEA", "Vitra", "Knoll", "Secretlab", "Muuto"]},
            booleans={"armrests": 0.6, "shipping_included": 0.25, "assembly_required": 0.2},
            price=(25, 900),
        ),
        Spec(
            name="Tables",
            slug="tables",
            icon="table",
            schema=[
                attr("seats", "Seats", "number"),
                attr("shape", "Shape", "enum", options=["Rectangular", "Round", "Square", "Oval"]),
                attr("extendable", "Extendable", "boolean"),
            ],
            weight=5,
            nouns=["dining table", "coffee table", "side table", "kitchen table", "console table"],
            adjectives=FURNITURE_ADJECTIVES,
            titles=[
                "{material} {noun}",
                "{adjective} {shape_l} {noun}",
                "{shape} {material_l} {noun}, seats {seats}",
                "{brand} {noun}",
                "{adjective} {material_l} {noun}",
            ],
            features=[
                "Seats the whole family comfortably.",
                "Recently re-oiled, the grain looks lovely.",
                "Legs unscrew for easy moving.",
                "Minor scratches on the top, hardly visible.",
                "Heavy and solid, built to last.",
            ],
            numbers={"width": (18, 96, 2), "depth": (18, 42, 2), "height": (16, 31, 1), "seats": (2, 10, 2)},
            options={
                "condition": FURNITURE_CONDITIONS,
                "material": ["Oak", "Oak", "Walnut", "Pine", "Pine", "Glass", "Metal", "Bamboo"],
            },
            texts={"brand": ["IKEA", "West Elm", "Crate & Barrel", "Ercol", "Hay", "Pottery Barn"]},
            booleans={"extendable": 0.3, "shipping_included": 0.15, "assembly_required": 0.3},
            price=(40, 1500),
        ),
        Spec(
            name="Sofas",
            slug="sofas",
            icon="sofa",
            schema=[
                attr("seats", "Seats", "number"),
                attr("sleeper", "Sofa bed", "boolean"),
                attr(
                    "color",
                    "Colour",
                    "enum",
                    options=["Grey", "Beige", "Navy", "Green", "Black", "Brown", "White", "Mustard", "Blush"],
                ),
            ],
            weight=5,
            nouns=["sofa", "sectional sofa", "sleeper sofa", "chesterfield", "corner sofa", "couch"],
            adjectives=FURNITURE_ADJECTIVES,
            titles=[
                "{color} {material_l} {noun}",
                "{brand} {noun}, {seats} seats",
                "{adjective} {color_l} {noun}",
                "{seats}-seater {material_l} {noun}",
                "{brand} {color_l} {noun}",
            ],
            features=[
                "Cushions are firm and keep their shape.",
                "Covers are removable and washable.",
                "From a smoke-free home, no pets.",
                "Deep seats, perfect for movie nights.",
                "You will need two people to carry it.",
            ],
            numbers={"width": (55, 120, 1), "depth": (30, 42, 1), "height": (28, 38, 1), "seats": (2, 6, 1)},
            options={
                "condition": FURNITURE_CONDITIONS,
                "material": ["Leather", "Fabric", "Fabric", "Velvet"],
            },
            texts={"brand": ["IKEA", "West Elm", "Article", "Habitat", "Ligne Roset", "Burrow", "Joybird"]},
            booleans={"sleeper": 0.2, "shipping_included": 0.1, "assembly_required": 0.15},
            price=(80, 3000),
        ),
        Spec(
            name="Storage & Shelving",
            slug="storage-shelving",
            icon="shelves",
            schema=[attr("shelves", "Shelves", "number")],
            weight=4,
            nouns=[
                "bookcase",
                "dresser",
                "wardrobe",
                "shelving unit",
                "sideboard",
                "chest of drawers",
                "TV stand",
            ],
            adjectives=FURNITURE_ADJECTIVES,
            titles=[
                "{material} {noun}",
                "{adjective} {noun}",
                "{brand} {noun}",
                "{adjective} {material_l} {noun}",
            ],
            features=[
                "Lots of storage in a small footprint.",
                "All shelves and handles included.",
                "Drawers slide smoothly.",
                "Wall fixing kit included.",
            ],
            numbers={"width": (16, 80, 2), "depth": (12, 24, 1), "height": (24, 84, 2), "shelves": (2, 8, 1)},
            options={
                "condition": FURNITURE_CONDITIONS,
                "material": ["Oak", "Walnut", "Pine", "Birch plywood", "Metal"],
            },
            texts={"brand": ["IKEA", "String", "USM", "West Elm", "Muji", "Vitsoe"]},
            booleans={"shipping_included": 0.15, "assembly_required": 0.5},
            price=(30, 1200),
        ),
    ],
)

ELECTRONICS = Spec(
    name="Electronics",
    slug="electronics",
    icon="laptop",
    schema=[
        attr(
            "condition",
            "Condition",
            "enum",
            options=["New", "Open box", "Like new", "Good", "Fair", "For parts"],
            required=True,
        ),
        attr("brand", "Brand", "text"),
        attr("warranty_months", "Warranty left", "number", unit="months"),
        attr("original_box", "Original box", "boolean"),
        attr("shipping_included", "Shipping included", "boolean"),
    ],
    children=[
        Spec(
            name="Phones",
            slug="phones",
            icon="phone",
            schema=[
                attr("model", "Model", "text"),
                attr("storage_gb", "Storage", "number", unit="GB"),
                attr("unlocked", "Unlocked", "boolean"),
                attr("screen_size", "Screen size", "number", unit="in"),
                attr(
                    "color",
                    "Colour",
                    "enum",
                    options=["Black", "White", "Silver", "Blue", "Green", "Purple", "Gold", "Red"],
                ),
            ],
            weight=10,
            item="{brand} {model}",
            adjectives=ELECTRONICS_ADJECTIVES,
            titles=[
                "{model} {storage_gb}GB {color_l}",
                "{brand} {model}, {storage_gb}GB, {condition_l}",
                "{model} {storage_gb} GB – {color}",
                "{adjective} {model} {storage_gb}GB",
            ],
            features=[
                "Battery health is still above 90%.",
                "Always kept in a case with a screen protector.",
                "Comes with the charging cable.",
                "No scratches on the screen.",
                "Factory reset and ready for a new owner.",
                "Face unlock and cameras work perfectly.",
            ],
            numbers={
                "storage_gb": [64, 128, 128, 256, 256, 512, 1024],
                "screen_size": [5.4, 6.1, 6.1, 6.4, 6.7, 6.8],
                "warranty_months": (0, 12, 1),
            },
            options={"condition": ELECTRONICS_CONDITIONS},
            linked=("brand", "model", PHONE_MODELS),
            booleans={"unlocked": 0.7, "original_box": 0.5, "shipping_included": 0.4},
            price=(80, 1300),
        ),
        Spec(
            name="Laptops",
            slug="laptops",
            icon="laptop",
            schema=[
                attr("model", "Model", "text"),
                attr("processor", "Processor", "enum", options=LAPTOP_PROCESSORS),
                attr("ram_gb", "Memory", "number", unit="GB"),
                attr("storage_gb", "Storage", "number", unit="GB"),
                attr("screen_size", "Screen size", "number", unit="in"),
            ],
            weight=8,
            item="{brand} {model}",
            adjectives=ELECTRONICS_ADJECTIVES,
            titles=[
                '{brand} {model} {screen_size}" {processor} {ram_gb}GB/{storage_gb}GB',
                "{model} – {ram_gb}GB RAM, {storage_gb}GB SSD",
                "{adjective} {brand} {model}",
                "{brand} {model} ({processor})",
            ],
            features=[
                "Battery still lasts a full working day.",
                "Keyboard and trackpad are in great shape.",
                "Fresh operating system install, no bloatware.",
                "Charger included.",
                "Perfect for students and office work.",
                "Runs cool and quiet.",
            ],
            numbers={
                "ram_gb": [8, 8, 16, 16, 32, 64],
                "storage_gb": [256, 512, 512, 1024, 2048],
                "screen_size": [13.3, 13.6, 14.0, 14.2, 15.6, 16.0],
                "warranty_months": (0, 24, 1),
            },
            options={"condition": ELECTRONICS_CONDITIONS},
            linked=("brand", "model", LAPTOP_MODELS),
            adjust=_laptop_processor,
            booleans={"original_box": 0.4, "shipping_included": 0.4},
            price=(150, 2600),
        ),
        Spec(
            name="Cameras",
            slug="cameras",
            icon="camera",
            schema=[
                attr("model", "Model", "text"),
                attr(
                    "camera_type", "Type", "enum", options=["DSLR", "Mirrorless", "Compact", "Film", "Action"]
                ),
                attr("megapixels", "Resolution", "number", unit="MP"),
                attr("lens_included", "Lens included", "boolean"),
                attr("shutter_count", "Shutter count", "number"),
            ],
            weight=5,
            item="{brand} {model}",
            adjectives=ELECTRONICS_ADJECTIVES,
            titles=[
                "{brand} {model} {camera_type_l} camera",
                "{brand} {model} body",
                "{model} with kit lens",
                "{adjective} {brand} {model}",
            ],
            features=[
                "Low shutter count, sensor is spotless.",
                "Two batteries and a charger included.",
                "Lens glass is clean, no fungus or haze.",
                "Great first camera for travel photography.",
                "Strap and memory card included.",
            ],
            numbers={
                "megapixels": [12, 20, 24, 24, 26, 33, 45, 61],
                "shutter_count": (500, 90000, 500),
                "warranty_months": (0, 12, 1),
            },
            options={"condition": ELECTRONICS_CONDITIONS},
            linked=(
                "brand",
                "model",
                {
                    "Canon": [
                        ("EOS R6", {"camera_type": "Mirrorless"}),
                        ("EOS 5D Mark IV", {"camera_type": "DSLR"}),
                        ("EOS RP", {"camera_type": "Mirrorless"}),
                        ("PowerShot G7 X", {"camera_type": "Compact"}),
                        ("AE-1", {"camera_type": "Film"}),
                    ],
                    "Nikon": [
                        ("Z6 II", {"camera_type": "Mirrorless"}),
                        ("D750", {"camera_type": "DSLR"}),
                        ("Z50", {"camera_type": "Mirrorless"}),
                        ("FM2", {"camera_type": "Film"}),
                    ],
                    "Sony": [
                        ("A7 III", {"camera_type": "Mirrorless"}),
                        ("A6400", {"camera_type": "Mirrorless"}),
                        ("RX100 VII", {"camera_type": "Compact"}),
                    ],
                    "Fujifilm": [
                        ("X-T4", {"camera_type": "Mirrorless"}),
                        ("X100V", {"camera_type": "Compact"}),
                        ("X-S10", {"camera_type": "Mirrorless"}),
                    ],
                    "GoPro": [("HERO11", {"camera_type": "Action"}), ("HERO12", {"camera_type": "Action"})],
                    "Leica": [("Q2", {"camera_type": "Compact"}), ("M6", {"camera_type": "Film"})],
                },
            ),
            booleans={"lens_included": 0.6, "original_box": 0.5, "shipping_included": 0.3},
            adjust=_film_camera,
            price_by=("camera_type", CAMERA_PRICES),
            price=(120, 3500),
        ),
        Spec(
            name="Audio",
            slug="audio",
            icon="headphones",
            schema=[
                attr(
                    "audio_type",
                    "Type",
                    "enum",
                    options=[
                        "Headphones",
                        "Earbuds",
                        "Bluetooth speaker",
                        "Turntable",
                        "Amplifier",
                        "Soundbar",
                    ],
                ),
                attr("wireless", "Wireless", "boolean"),
            ],
            weight=5,
            adjectives=ELECTRONICS_ADJECTIVES,
            item="{brand} {audio_type_l}",
            titles=[
                "{brand} {audio_type_l}",
                "{adjective} {brand} {audio_type_l}",
                "{audio_type} by {brand}",
            ],
            features=[
                "Sounds fantastic, no crackle or dropouts.",
                "Ear pads were replaced recently.",
                "Pairs instantly with phones and laptops.",
                "Original cables included.",
            ],
            numbers={"warranty_months": (0, 12, 1)},
            options={"condition": ELECTRONICS_CONDITIONS},
            linked=("brand", "audio_type", AUDIO_BRANDS),
            adjust=_audio_wireless,
            booleans={"original_box": 0.5, "shipping_included": 0.5},
            price_by=("audio_type", AUDIO_PRICES),
            price=(25, 900),
        ),
        Spec(
            name="Gaming",
            slug="gaming",
            icon="gamepad",
            schema=[
                attr(
                    "platform",
                    "Platform",
                    "enum",
                    options=[
                        "PlayStation 5",
                        "PlayStation 4",
                        "Xbox Series X",
                        "Xbox Series S",
                        "Nintendo Switch",
                        "Steam Deck",
                    ],
                ),
                attr("controllers", "Controllers", "number"),
                attr("storage_gb", "Storage", "number", unit="GB"),
            ],
            weight=4,
            item="{platform}",
            adjectives=ELECTRONICS_ADJECTIVES,
            titles=[
                "{platform} {storage_gb}GB with {controllers} controllers",
                "{platform} bundle with games",
                "{adjective} {platform} console",
                "{platform} – {condition_l}",
            ],
            features=[
                "Comes with a handful of games.",
                "Controllers have no stick drift.",
                "Runs quietly, recently cleaned inside.",
                "All cables included, ready to plug in.",
            ],
            numbers={
                "controllers": (1, 4, 1),
                "storage_gb": [64, 256, 500, 825, 1000, 2000],
                "warranty_months": (0, 12, 1),
            },
            options={"condition": ELECTRONICS_CONDITIONS},
            skip=frozenset({"brand"}),
            booleans={"original_box": 0.5, "shipping_included": 0.3},
            price=(90, 650),
        ),
    ],
)

VEHICLES = Spec(
    name="Vehicles",
    slug="vehicles",
    icon="car",
    schema=[
        attr("year", "Year", "number", required=True),
        attr("mileage", "Mileage", "number", unit="km"),
        attr("fuel", "Fuel", "enum", options=["Petrol", "Diesel", "Hybrid", "Electric"]),
        attr("condition", "Condition", "enum", options=["Excellent", "Good", "Fair", "Needs work"]),
    ],
    children=[
        Spec(
            name="Cars",
            slug="cars",
            icon="car",
            kind="vehicle",
            schema=[
                attr("make", "Make", "text"),
                attr("model", "Model", "text"),
                attr("transmission", "Transmission", "enum", options=["Manual", "Automatic"]),
                attr(
                    "body_type",
                    "Body type",
                    "enum",
                    options=["Sedan", "Hatchback", "SUV", "Wagon", "Coupe", "Convertible", "Pickup", "Van"],
                ),
                attr("doors", "Doors", "number"),
                attr(
                    "color",
                    "Colour",
                    "enum",
                    options=["Black", "White", "Silver", "Grey", "Blue", "Red", "Green"],
                ),
            ],
            weight=7,
            item="{make} {model}",
            titles=[
                "{year} {make} {model}",
                "{year} {make} {model} {transmission_l}",
                "{make} {model} {year}, {mileage} km",
                "{make} {model} – {color_l}, {year}",
            ],
            features=[
                "Full service history with stamps.",
                "New tyres all round last year.",
                "Timing belt recently replaced.",
                "Two keys and both manuals.",
                "Clean interior, non-smoker.",
                "Winter tyres on rims included.",
            ],
            numbers={"year": (2006, 2024, 1), "doors": [2, 3, 4, 5, 5]},
            options={
                "condition": ["Excellent", "Good", "Good", "Good", "Fair", "Needs work"],
                "fuel": ["Petrol", "Petrol", "Petrol", "Diesel", "Diesel"],
            },
            linked=("make", "model", CAR_MODELS),
            adjust=_car_details,
            price=(12000, 55000),
            depreciation=0.88,
            pricing={"negotiable": (60, None), "fixed": (40, None)},
            contact_rate=0.06,
        ),
        Spec(
            name="Motorcycles",
            slug="motorcycles",
            icon="motorcycle",
            kind="vehicle",
            schema=[
                attr("make", "Make", "text"),
                attr("model", "Model", "text"),
                attr("engine_cc", "Engine", "number", unit="cc"),
                attr(
                    "motorcycle_type",
                    "Type",
                    "enum",
                    options=["Naked", "Sport", "Touring", "Adventure", "Cruiser", "Scooter"],
                ),
            ],
            weight=3,
            item="{make} {model}",
            titles=[
                "{year} {make} {model}",
                "{make} {model} {engine_cc}cc",
                "{make} {model} ({year}), {mileage} km",
            ],
            features=[
                "Serviced every spring, chain and sprockets are new.",
                "Heated grips and a top box included.",
                "Never dropped, always garaged.",
                "Comes with a tank bag and cover.",
            ],
            numbers={"year": (2008, 2024, 1)},
            options={"condition": ["Excellent", "Good", "Good", "Fair"], "fuel": ["Petrol"]},
            linked=(
                "make",
                "model",
                {
                    "Honda": [
                        ("CB500F", {"engine_cc": 471, "motorcycle_type": "Naked"}),
                        ("Africa Twin", {"engine_cc": 1084, "motorcycle_type": "Adventure"}),
                        ("PCX 125", {"engine_cc": 125, "motorcycle_type": "Scooter"}),
                    ],
                    "Yamaha": [
                        ("MT-07", {"engine_cc": 689, "motorcycle_type": "Naked"}),
                        ("R1", {"engine_cc": 998, "motorcycle_type": "Sport"}),
                        ("Tenere 700", {"engine_cc": 689, "motorcycle_type": "Adventure"}),
                    ],
                    "Kawasaki": [
                        ("Z650", {"engine_cc": 649, "motorcycle_type": "Naked"}),
                        ("Ninja 400", {"engine_cc": 399, "motorcycle_type": "Sport"}),
                    ],
                    "Ducati": [
                        ("Monster", {"engine_cc": 937, "motorcycle_type": "Naked"}),
                        ("Scrambler Icon", {"engine_cc": 803, "motorcycle_type": "Naked"}),
                    ],
                    "BMW": [
                        ("R 1250 GS", {"engine_cc": 1254, "motorcycle_type": "Adventure"}),
                        ("R 1250 RT", {"engine_cc": 1254, "motorcycle_type": "Touring"}),
                    ],
                    "Triumph": [
                        ("Street Triple", {"engine_cc": 765, "motorcycle_type": "Naked"}),
                        ("Bonneville T120", {"engine_cc": 1200, "motorcycle_type": "Cruiser"}),
                    ],
                    "Vespa": [
                        ("Primavera 125", {"engine_cc": 125, "motorcycle_type": "Scooter"}),
                        ("GTS 300", {"engine_cc": 278, "motorcycle_type": "Scooter"}),
                    ],
                },
            ),
            adjust=_motorcycle_mileage,
            price_by=("motorcycle_type", MOTORCYCLE_PRICES),
            price=(3000, 16000),
            depreciation=0.9,
            pricing={"negotiable": (60, None), "fixed": (40, None)},
            contact_rate=0.05,
        ),
        Spec(
            name="Bikes",
            slug="bikes",
            icon="bicycle",
            kind="goods",
            schema=[
                attr("brand", "Brand", "text"),
                attr("model", "Model", "text"),
                attr(
                    "bike_type",
                    "Type",
                    "enum",
                    options=["Road", "Mountain", "Gravel", "Hybrid", "City", "Cargo", "Kids"],
                ),
                attr("frame_size", "Frame size", "number", unit="cm"),
                attr("gears", "Gears", "number"),
            ],
            weight=5,
            item="{brand} {model}",
            titles=[
                "{brand} {model} {bike_type_l} bike",
                "{year} {brand} {model}, {frame_size} cm frame",
                "{bike_type} bike – {brand} {model}",
            ],
            features=[
                "Just had a full tune-up: new chain, cables and brake pads.",
                "Tubeless tyres, rides beautifully.",
                "Lights, lock and mudguards included.",
                "Hydraulic disc brakes, very reliable.",
                "Great commuter, light and quick.",
            ],
            numbers={
                "year": (2014, 2024, 1),
                "frame_size": [44, 48, 50, 52, 54, 56, 58, 61],
                "gears": [1, 3, 8, 9, 10, 11, 12, 18, 21],
            },
            options={"condition": ["Excellent", "Good", "Good", "Fair"]},
            skip=frozenset({"mileage", "fuel"}),
            linked=("brand", "model", BIKE_MODELS),
            price_by=("bike_type", BIKE_PRICES),
            adjust=_kids_bike,
        ),
    ],
)

SERVICES = Spec(
    name="Services",
    slug="services",
    icon="briefcase",
    schema=[
        attr("delivery_days", "Delivery", "number", unit="days"),
        attr("revisions", "Revisions", "number"),
        attr("commercial_use", "Commercial use", "boolean"),
    ],
    children=[
        Spec(
            name="Design",
            slug="design",
            icon="palette",
            kind="service",
            schema=[
                attr(
                    "design_type",
                    "Design type",
                    "enum",
                    options=[
                        "Logo",
                        "Brand identity",
                        "Website",
                        "Illustration",
                        "Packaging",
                        "Social media",
                    ],
                    required=True,
                ),
                attr("source_files", "Source files included", "boolean"),
            ],
            weight=4,
            item="{design_type_l} design",
            adjectives=["Professional", "Modern", "Minimal", "Bold", "Playful", "Custom"],
            titles=[
                "{design_type} design for small businesses",
                "{adjective} {design_type_l} design",
                "Custom {design_type_l} design in {delivery_days} days",
                "{adjective} {design_type_l} design with {revisions} revisions",
            ],
            features=[
                "Ten years of agency experience, now freelancing.",
                "You get three initial concepts to choose from.",
                "Portfolio available on request.",
                "Fast turnaround and clear communication.",
            ],
            numbers={"delivery_days": (2, 21, 1), "revisions": (1, 5, 1)},
            booleans={"commercial_use": 0.8, "source_files": 0.6},
            pricing={"project": (80, (50, 2500)), "hourly": (20, (25, 120))},
            contact_rate=0.08,
        ),
        Spec(
            name="Tutoring",
            slug="tutoring",
            icon="book",
            kind="service",
            schema=[
                attr(
                    "subject",
                    "Subject",
                    "enum",
                    options=[
                        "Math",
                        "Physics",
                        "Chemistry",
                        "English",
                        "Spanish",
                        "French",
                        "Programming",
                        "Piano",
                        "Guitar",
                    ],
                    required=True,
                ),
                attr("level", "Level", "enum", options=["Primary", "Secondary", "University", "Adult"]),
                attr("online", "Online lessons", "boolean"),
                attr("session_minutes", "Session length", "number", unit="min"),
            ],
            weight=4,
            item="{subject} tutoring",
            adjectives=["Friendly", "Experienced", "Patient", "Qualified", "Native-speaker"],
            titles=[
                "{subject} tutoring – {level_l} level",
                "{adjective} {subject} tutor ({level_l})",
                "{subject} lessons, online or in person",
                "{adjective} {subject} tutor, {session_minutes}-minute sessions",
            ],
            features=[
                "Lessons are tailored to the exam board and pace of each student.",
                "First lesson at half price.",
                "Homework help and exam practice included.",
                "Qualified teacher with a clean background check.",
            ],
            numbers={"session_minutes": [30, 45, 60, 60, 90]},
            skip=frozenset({"delivery_days", "revisions", "commercial_use"}),
            booleans={"online": 0.6},
            pricing={"hourly": (90, (20, 90)), "project": (10, (100, 600))},
            contact_rate=0.02,
        ),
        Spec(
            name="Repairs",
            slug="repairs",
            icon="wrench",
            kind="service",
            schema=[
                attr(
                    "repair_type",
                    "Repair type",
                    "enum",
                    options=[
                        "Phone screen",
                        "Laptop",
                        "Bicycle",
                        "Appliance",
                        "Furniture",
                        "Watch",
                        "Plumbing",
                        "Electrical",
                    ],
                    required=True,
                ),
                attr("on_site", "On-site visits", "boolean"),
                attr("warranty_days", "Warranty", "number", unit="days"),
            ],
            weight=3,
            item="{repair_type_l} repair",
            adjectives=["Reliable", "Affordable", "Same-day", "Certified", "Local"],
            titles=[
                "{repair_type} repair, same week",
                "{repair_type} repair – {warranty_days}-day warranty",
                "{adjective} {repair_type_l} repairs",
                "{adjective} {repair_type_l} repair service",
            ],
            features=[
                "Free quote before any work starts.",
                "Genuine or high-quality parts only.",
                "Fully insured.",
                "Most jobs done within 48 hours.",
            ],
            numbers={"warranty_days": [30, 60, 90, 90, 180, 365], "delivery_days": (1, 10, 1)},
            skip=frozenset({"revisions", "commercial_use"}),
            booleans={"on_site": 0.5},
            pricing={"hourly": (50, (30, 110)), "fixed": (50, (40, 400))},
            contact_rate=0.1,
        ),
        Spec(
            name="Photography",
            slug="photography",
            icon="camera",
            kind="service",
            schema=[
                attr(
                    "shoot_type",
                    "Shoot type",
                    "enum",
                    options=["Wedding", "Portrait", "Product", "Event", "Real estate"],
                    required=True,
                ),
                attr("hours", "Hours on site", "number"),
                attr("edited_photos", "Edited photos", "number"),
            ],
            weight=2,
            item="{shoot_type_l} photography",
            adjectives=["Natural-light", "Documentary", "Creative", "Professional", "Relaxed"],
            titles=[
                "{shoot_type} photography",
                "{adjective} {shoot_type_l} photographer",
                "{shoot_type} shoot – {edited_photos} edited photos",
            ],
            features=[
                "Online gallery delivered within two weeks.",
                "Travel within the city is included.",
                "Second shooter available on request.",
            ],
            numbers={
                "hours": (1, 10, 1),
                "edited_photos": (10, 400, 10),
                "delivery_days": (3, 30, 1),
                "revisions": (0, 2, 1),
            },
            booleans={"commercial_use": 0.5},
            pricing={"project": (70, (150, 3500)), "hourly": (30, (60, 250))},
            contact_rate=0.1,
        ),
    ],
)

HOME_GARDEN = Spec(
    name="Home & Garden",
    slug="home-garden",
    icon="leaf",
    schema=[
        attr("condition", "Condition", "enum", options=["New", "Like new", "Good", "Fair"], required=True),
        attr("brand", "Brand", "text"),
        attr("shipping_included", "Shipping included", "boolean"),
    ],
    children=[
        Spec(
            name="Garden",
            slug="garden",
            icon="leaf",
            schema=[
                attr(
                    "tool_type",
                    "Tool",
                    "enum",
                    options=[
                        "Lawn mower",
                        "Hedge trimmer",
                        "Leaf blower",
                        "Pressure washer",
                        "Chainsaw",
                        "Wheelbarrow",
                        "Garden hose",
                        "Planter",
                    ],
                    required=True,
                ),
                attr(
                    "power_source",
                    "Power",
                    "enum",
                    options=["Manual", "Corded electric", "Battery", "Petrol"],
                ),
            ],
            weight=4,
            item="{tool_type_l}",
            titles=[
                "{brand} {tool_type_l}",
                "{power_source} {tool_type_l}",
                "{tool_type} – {brand}, {condition_l}",
            ],
            features=[
                "Starts first time, serviced this season.",
                "Battery and charger included.",
                "Stored in a dry shed over winter.",
                "Moving to a flat, no garden any more.",
            ],
            options={"condition": HOME_CONDITIONS},
            linked=("brand", "tool_type", GARDEN_BRANDS),
            price_by=("tool_type", GARDEN_PRICES),
            adjust=_garden_power,
            booleans={"shipping_included": 0.1},
            price=(15, 900),
        ),
        Spec(
            name="Lighting",
            slug="lighting",
            icon="lightbulb",
            schema=[
                attr(
                    "lighting_type",
                    "Type",
                    "enum",
                    options=[
                        "Floor lamp",
                        "Table lamp",
                        "Pendant light",
                        "Wall sconce",
                        "Chandelier",
                        "Desk lamp",
                    ],
                    required=True,
                ),
                attr(
                    "finish",
                    "Finish",
                    "enum",
                    options=["Brass", "Black metal", "Chrome", "Ceramic", "Glass", "Paper", "Wood"],
                ),
                attr("dimmable", "Dimmable", "boolean"),
                attr("bulb_included", "Bulb included", "boolean"),
            ],
            weight=3,
            item="{lighting_type_l}",
            adjectives=["Mid-century", "Vintage", "Designer", "Scandinavian", "Industrial"],
            titles=[
                "{brand} {lighting_type_l}",
                "{finish} {lighting_type_l}",
                "{adjective} {finish_l} {lighting_type_l}",
            ],
            features=[
                "Gives a lovely warm light.",
                "Rewired recently by an electrician.",
                "Shade is in perfect condition.",
            ],
            options={"condition": HOME_CONDITIONS},
            texts={
                "brand": ["IKEA", "Louis Poulsen", "Flos", "Artemide", "Muuto", "Tom Dixon", "Anglepoise"]
            },
            booleans={"dimmable": 0.4, "bulb_included": 0.6, "shipping_included": 0.3},
            price_by=("lighting_type", LIGHTING_PRICES),
            price=(15, 1400),
        ),
        Spec(
            name="Kitchen",
            slug="kitchen",
            icon="utensils",
            schema=[
                attr(
                    "item_type",
                    "Item",
                    "enum",
                    options=[
                        "Stand mixer",
                        "Espresso machine",
                        "Blender",
                        "Cookware set",
                        "Knife set",
                        "Air fryer",
                        "Dinnerware set",
                        "Toaster",
                    ],
                    required=True,
                ),
                attr(
                    "color", "Colour", "enum", options=["Black", "White", "Red", "Cream", "Stainless", "Blue"]
                ),
            ],
            weight=4,
            item="{item_type_l}",
            titles=["{brand} {item_type_l}", "{color} {brand} {item_type_l}", "{item_type} by {brand}"],
            features=[
                "Used a handful of times, works perfectly.",
                "All attachments and the manual included.",
                "Descaled and cleaned, ready to use.",
                "Unwanted gift, still in the box.",
            ],
            options={"condition": HOME_CONDITIONS},
            linked=("brand", "item_type", KITCHEN_BRANDS),
            price_by=("item_type", KITCHEN_PRICES),
            booleans={"shipping_included": 0.4},
            price=(15, 800),
        ),
    ],
)

CATALOGUE = [FURNITURE, ELECTRONICS, VEHICLES, SERVICES, HOME_GARDEN]


# --- Words and places ----------------------------------------------------------------------

FIRST_NAMES = (  # noqa: SIM905 - a word list reads best as words
    "Olivia Liam Emma Noah Ava Oliver Sophia Elijah Isabella Lucas Mia Mateo Amelia Ethan Harper "
    "James Evelyn Benjamin Aisha Omar Priya Arjun Mei Hiroshi Yuki Chen Sofia Diego Camila Luca "
    "Giulia Hannah Felix Clara Jonas Emil Freya Oscar Maya Leila Samir Nadia Kofi Amara Tomas Ines "
    "Marta Pablo Chloe Jack Grace Theo Zoe Ruby Daniel Sara Ali Fatima Ivan Anya Nora Erik Lena"
).split()
LAST_NAMES = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis "
    "Walker Young Allen King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts "
    "Carter Phillips Evans Turner Torres Parker Collins Edwards Stewart Morris Murphy Cook Rogers "
    "Nguyen Kim Patel Khan Singh Chen Wang Tanaka Sato Rossi Bianchi Muller Schmidt Dubois Moreau "
    "Jansen Bakker Novak Kowalski Silva Santos Costa Larsen Nielsen Berg Okafor Mensah"
).split()
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
SHOP_WORDS = [
    "Finds",
    "Workshop",
    "Studio",
    "Garage",
    "Tech Corner",
    "Home Goods",
    "Bikes",
    "Vintage",
    "Outlet",
]
SELLER_BIOS = [
    "Decluttering one room at a time.",
    "Small business, fast replies.",
    "I restore old furniture in my spare time.",
    "Tech enthusiast, I upgrade often and sell the old gear.",
    "Freelancer based in the city centre.",
    "Everything comes from a smoke-free home.",
    "",
]

CONDITION_SENTENCES = {
    "New": "Brand new, never used.",
    "Open box": "Opened but never used; everything is in the box.",
    "Like new": "Like new, no visible wear.",
    "Good": "In good condition with light signs of use.",
    "Fair": "Fair condition: some scratches and wear, but fully working.",
    "For parts": "Sold for parts or repair; it does not work as it should.",
    "Excellent": "Excellent condition, always looked after.",
    "Needs work": "Needs some work, priced accordingly.",
}
OPENERS = {
    "goods": [
        "Selling my {item}.",
        "Up for sale: {item}.",
        "Moving house, so my {item} needs a new home.",
        "Upgraded, so I'm letting this {item} go.",
        "Lovely {item} looking for a new owner.",
    ],
    "vehicle": [
        "Selling my {item}.",
        "Reluctant sale of my {item}.",
        "Well-maintained {item} for sale.",
        "Our family {item} is up for sale.",
    ],
    "service": [
        "I offer {item}.",
        "Need {item}? I can help.",
        "{Item}, done properly and on time.",
        "Affordable {item} from an experienced freelancer.",
    ],
}
LOGISTICS = {
    "goods": [
        "Pick-up in {city}.",
        "Pick-up in {city}, or local delivery for a small fee.",
        "Collection from {city}; I can help load it.",
        "Happy to meet somewhere central in {city}.",
    ],
    "vehicle": [
        "Viewing in {city} by appointment.",
        "Test drives welcome in {city} with proof of insurance.",
        "Located in {city}; no trades, please.",
    ],
    "service": [
        "Based in {city}, working with clients everywhere.",
        "In-person in {city}, or online.",
        "Message me with your project details and I'll reply within a day.",
    ],
}
REMOTE_LOGISTICS = ["Everything is done online.", "Available evenings and weekends, fully remote."]
CLOSERS = {
    "fixed": ["Price is firm.", "First come, first served.", "Feel free to ask any questions!"],
    "negotiable": ["Reasonable offers considered.", "Open to offers.", "Make me an offer!"],
    "hourly": ["Ask about a package of sessions.", "Weekend slots available."],
    "project": ["Every project starts with a short call.", "Quotes are free."],
}

# Weighted so that most listings are in the US (USD), some in Europe (EUR, GBP).
COUNTRY_WEIGHTS = {"US": 4, "CA": 2, "GB": 3, "FR": 2, "DE": 2, "NL": 2, "ES": 2, "IT": 2, "AT": 2, "IE": 2}
COUNTRY_CURRENCY = {
    "GB": "GBP",
    "JP": "JPY",
    **dict.fromkeys(["FR", "DE", "NL", "ES", "IT", "AT", "IE"], "EUR"),
}
# Rough value of one US dollar, to keep prices believable across currencies.
DOLLAR_RATE = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0}

STATUS_WEIGHTS = [("active", 86), ("sold", 5), ("archived", 3.5), ("draft", 4), ("reserved", 1.5)]
VISIBILITY_WEIGHTS = [("public", 95), ("unlisted", 4), ("private", 1)]
CONDITION_PRICE = {
    "New": 1.0,
    "Open box": 0.9,
    "Like new": 0.85,
    "Excellent": 0.9,
    "Good": 0.7,
    "Fair": 0.5,
    "Needs work": 0.4,
    "For parts": 0.2,
}


def walk(specs: Iterable[Spec], parent: Spec | None = None):
    """Every spec with its parent, parents first."""
    for spec in specs:
        yield spec, parent
        yield from walk(spec.children, spec)


def validate_catalogue() -> None:
    """Every schema is valid, and every hint names an attribute (and option) it may use."""
    for spec, parent in walk(CATALOGUE):
        validate_attribute_schema(spec.schema)
        if spec.children:
            continue
        merged = {
            entry["key"]: entry for entry in merged_schema([parent.schema if parent else [], spec.schema])
        }
        hinted = {*spec.numbers, *spec.options, *spec.texts, *spec.booleans, *spec.skip}
        enum_values = {key: set(values) for key, values in spec.options.items()}
        if spec.linked:
            parent_key, child_key, table = spec.linked
            hinted |= {parent_key, child_key}
            for child in (child for children in table.values() for child in children):
                name, overrides = child if isinstance(child, tuple) else (child, {})
                enum_values.setdefault(child_key, set()).add(name)
                hinted |= set(overrides)
                for key, value in overrides.items():
                    enum_values.setdefault(key, set()).add(value)
        if spec.price_by:
            hinted.add(spec.price_by[0])
            enum_values.setdefault(spec.price_by[0], set()).update(spec.price_by[1])
        unknown = hinted - set(merged)
        if unknown:
            raise ValueError(f"{spec.slug}: hints for unknown attributes {sorted(unknown)}")
        for key, values in enum_values.items():
            if merged[key]["type"] == "enum" and values - set(merged[key]["options"]):
                raise ValueError(f"{spec.slug}: {key} values {sorted(values - set(merged[key]['options']))}")


def merged_schema(schemas: Iterable[list[dict]]) -> list[dict]:
    """Ancestors' attributes first, then the category's own; a key is defined once (as search does)."""
    merged, seen = [], set()
    for schema in schemas:
        for entry in schema:
            if entry.get("key") not in seen:
                seen.add(entry.get("key"))
                merged.append(entry)
    return merged
