import pytest
from django.core.exceptions import ValidationError

from listings.attributes import validate_attribute_schema
from listings.models import Category
from tests.factories import CategoryFactory

GOOD_SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"], "required": True},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
    {"key": "assembled", "label": "Assembled", "type": "boolean", "required": False},
    {"key": "maker_2", "label": "Maker", "type": "text"},
]


def messages_for(schema) -> list[str]:
    with pytest.raises(ValidationError) as excinfo:
        validate_attribute_schema(schema)
    return excinfo.value.messages


@pytest.mark.parametrize("schema", [GOOD_SCHEMA, []])
def test_good_schema_passes(schema):
    assert validate_attribute_schema(schema) is None


@pytest.mark.parametrize("schema", [{}, {"key": "width"}, "width", None, 3])
def test_schema_must_be_a_list(schema):
    assert messages_for(schema) == ["The attribute schema must be a list of attribute definitions."]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("width", "Attribute 1: must be an object."),
        (
            {"key": "width", "label": "Width", "type": "number", "colour": "red"},
            "Attribute 1: unknown fields colour.",
        ),
        (
            {"key": "Width", "label": "Width", "type": "number"},
            "Attribute 1: key must be lower_snake_case (letters, digits, underscores).",
        ),
        (
            {"key": "2width", "label": "Width", "type": "number"},
            "Attribute 1: key must be lower_snake_case (letters, digits, underscores).",
        ),
        (
            {"key": "w" * 51, "label": "Width", "type": "number"},
            "Attribute 1: key must be lower_snake_case (letters, digits, underscores).",
        ),
        (
            {"label": "Width", "type": "number"},
            "Attribute 1: key must be lower_snake_case (letters, digits, underscores).",
        ),
        ({"key": "width", "type": "number"}, "Attribute 1: label is required."),
        ({"key": "width", "label": "   ", "type": "number"}, "Attribute 1: label is required."),
        ({"key": "width", "label": 7, "type": "number"}, "Attribute 1: label is required."),
        (
            {"key": "width", "label": "Width", "type": "date"},
            "Attribute 1: type must be one of number, enum, boolean, text.",
        ),
        (
            {"key": "width", "label": "Width"},
            "Attribute 1: type must be one of number, enum, boolean, text.",
        ),
        (
            {"key": "material", "label": "Material", "type": "enum"},
            "Attribute 1: an enum needs a non-empty list of text options.",
        ),
        (
            {"key": "material", "label": "Material", "type": "enum", "options": []},
            "Attribute 1: an enum needs a non-empty list of text options.",
        ),
        (
            {"key": "material", "label": "Material", "type": "enum", "options": ["Oak", ""]},
            "Attribute 1: an enum needs a non-empty list of text options.",
        ),
        (
            {"key": "material", "label": "Material", "type": "enum", "options": ["Oak", 3]},
            "Attribute 1: an enum needs a non-empty list of text options.",
        ),
        (
            {"key": "material", "label": "Material", "type": "enum", "options": "Oak"},
            "Attribute 1: an enum needs a non-empty list of text options.",
        ),
        (
            {"key": "material", "label": "Material", "type": "enum", "options": ["Oak", "Oak"]},
            "Attribute 1: enum options must be distinct.",
        ),
        (
            {"key": "width", "label": "Width", "type": "number", "options": ["1", "2"]},
            "Attribute 1: only enum attributes have options.",
        ),
        ({"key": "width", "label": "Width", "type": "number", "unit": 3}, "Attribute 1: unit must be text."),
        (
            {"key": "width", "label": "Width", "type": "number", "required": "yes"},
            "Attribute 1: required must be true or false.",
        ),
    ],
)
def test_each_bad_entry_gets_a_clear_message(entry, message):
    assert messages_for([entry]) == [message]


def test_duplicate_key_names_the_later_entry():
    schema = [GOOD_SCHEMA[1], {"key": "width", "label": "Width again", "type": "number"}]
    assert messages_for(schema) == ["Attribute 2: key 'width' is defined twice."]


def test_every_problem_is_reported_at_once_with_its_position():
    schema = [
        GOOD_SCHEMA[0],
        {"key": "Bad Key", "type": "colour"},
        "oops",
    ]
    assert messages_for(schema) == [
        "Attribute 2: key must be lower_snake_case (letters, digits, underscores).",
        "Attribute 2: label is required.",
        "Attribute 2: type must be one of number, enum, boolean, text.",
        "Attribute 3: must be an object.",
    ]


@pytest.mark.django_db
def test_category_full_clean_runs_the_schema_validator():
    category = CategoryFactory.build(attribute_schema=[{"key": "width", "label": "Width", "type": "date"}])
    with pytest.raises(ValidationError) as excinfo:
        category.full_clean()
    assert "Attribute 1: type must be one of number, enum, boolean, text." in excinfo.value.messages
    assert not Category.objects.filter(slug=category.slug).exists()


@pytest.mark.django_db
def test_category_full_clean_accepts_a_good_schema():
    category = CategoryFactory.build(attribute_schema=GOOD_SCHEMA)
    category.full_clean()
