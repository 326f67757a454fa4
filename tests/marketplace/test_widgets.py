import re

import pytest
from django import forms

from marketplace.widgets import FastSelect


def normalised(html: str) -> str:
    return re.sub(r">\s+<", "><", str(html)).strip()


CHOICES = [
    ("", "Any"),
    ("a&b", 'Tom & "Jerry" <script>'),
    ("Furniture", [("desk", "Desk"), ("sofa", "Sofa")]),
    (3, "Three"),
]


@pytest.mark.parametrize(
    ("value", "attrs"),
    [
        ("", None),
        ("a&b", {"id": "id_x", "aria-invalid": "true"}),
        ("sofa", {"required": True, "disabled": False}),
        (3, {"data-x": "<'>"}),
        (None, None),
    ],
)
def test_the_same_markup_as_djangos_select(value, attrs):
    ours = FastSelect(choices=CHOICES).render("field", value, attrs)
    djangos = forms.Select(choices=CHOICES).render("field", value, attrs)
    assert normalised(ours) == normalised(djangos)
    assert "<script>" not in ours


def test_a_bound_field_renders_through_it():
    class Form(forms.Form):
        pick = forms.ChoiceField(choices=CHOICES, widget=FastSelect, required=False)

    html = str(Form({"pick": "desk"})["pick"])
    assert '<option value="desk" selected>Desk</option>' in html
    assert html.startswith('<select name="pick" id="id_pick">')
