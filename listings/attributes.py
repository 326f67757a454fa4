"""A category's ``attribute_schema``: the typed attributes its listings carry.

Each entry: ``{"key": str, "label": str, "type": "number"|"enum"|"boolean"|"text",
"unit": str (optional), "options": [str, ...] (enum only), "required": bool}``.
Attribute values are stored typed in ``Listing.attributes`` (numbers as JSON numbers), so
range filters compare numbers as numbers.
"""

import re

from django.core.exceptions import ValidationError

ATTRIBUTE_TYPES = ("number", "enum", "boolean", "text")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
ALLOWED_ENTRY_KEYS = {"key", "label", "type", "unit", "options", "required"}


def validate_attribute_schema(schema) -> None:
    """Raise ``ValidationError`` listing every problem of ``schema``."""
    if not isinstance(schema, list):
        raise ValidationError("The attribute schema must be a list of attribute definitions.")
    errors = []
    seen = set()
    for position, entry in enumerate(schema, start=1):
        where = f"Attribute {position}"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be an object.")
            continue
        unknown = set(entry) - ALLOWED_ENTRY_KEYS
        if unknown:
            errors.append(f"{where}: unknown fields {', '.join(sorted(unknown))}.")
        key = entry.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            errors.append(f"{where}: key must be lower_snake_case (letters, digits, underscores).")
        elif key in seen:
            errors.append(f"{where}: key '{key}' is defined twice.")
        else:
            seen.add(key)
        if not isinstance(entry.get("label"), str) or not entry.get("label", "").strip():
            errors.append(f"{where}: label is required.")
        attribute_type = entry.get("type")
        if attribute_type not in ATTRIBUTE_TYPES:
            errors.append(f"{where}: type must be one of {', '.join(ATTRIBUTE_TYPES)}.")
        options = entry.get("options")
        if attribute_type == "enum":
            if (
                not isinstance(options, list)
                or not options
                or not all(isinstance(option, str) and option for option in options)
            ):
                errors.append(f"{where}: an enum needs a non-empty list of text options.")
            elif len(set(options)) != len(options):
                errors.append(f"{where}: enum options must be distinct.")
        elif options is not None:
            errors.append(f"{where}: only enum attributes have options.")
        if "unit" in entry and not isinstance(entry["unit"], str):
            errors.append(f"{where}: unit must be text.")
        if "required" in entry and not isinstance(entry["required"], bool):
            errors.append(f"{where}: required must be true or false.")
    if errors:
        raise ValidationError(errors)
