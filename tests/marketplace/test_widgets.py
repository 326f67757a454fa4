import re
from decimal import Decimal

import pytest
from django import forms
from django.utils.safestring import mark_safe

from marketplace.widgets import FastHiddenInput, FastNumberInput, FastSelect, FastTextInput, SharedChoiceField


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


# A None value, a value twice (only its first option is selected), a group without a name.
ODD_CHOICES = [
    (None, "None"),
    ("a", "A"),
    ("", [("a", "A again"), ("b", "B")]),
    (1, "One"),
    ("1", "One again"),
]


@pytest.mark.parametrize("value", [None, "", "a", "b", 1, "1", ["a", "b"]])
def test_odd_choices_render_as_djangos_select_renders_them(value):
    ours = FastSelect(choices=ODD_CHOICES).render("field", value, {"id": "id_field"})
    djangos = forms.Select(choices=ODD_CHOICES).render("field", value, {"id": "id_field"})
    assert normalised(ours) == normalised(djangos)


def test_a_bound_field_renders_through_it():
    class Form(forms.Form):
        pick = forms.ChoiceField(choices=CHOICES, widget=FastSelect, required=False)

    html = str(Form({"pick": "desk"})["pick"])
    assert '<option value="desk" selected>Desk</option>' in html
    assert html.startswith('<select name="pick" id="id_pick">')


class Picker(forms.Form):
    pick = SharedChoiceField(choices=CHOICES[:2], widget=FastSelect, required=False)
    place = forms.CharField(widget=FastSelect, required=False)


def test_form_copies_share_the_options_and_replacing_them_stays_with_one_form():
    first, second = Picker(), Picker()
    assert first.fields["pick"].choices is Picker.base_fields["pick"].choices
    assert first.fields["pick"].widget.choices is Picker.base_fields["pick"].widget.choices
    assert first.fields["pick"].widget.attrs is not Picker.base_fields["pick"].widget.attrs

    first.fields["pick"].choices = [("x", "X")]
    first.fields["place"].widget.share_choices((("here", "Here"),))
    assert second.fields["pick"].choices == Picker.base_fields["pick"].choices == CHOICES[:2]
    assert list(second.fields["place"].widget.choices) == []
    assert Picker({"pick": "x"}).is_valid() is False  # the class's options still validate
    assert first.fields["pick"].valid_value("x")
    assert '<option value="here">Here</option>' in str(first["place"])


@pytest.mark.parametrize(
    ("fast", "django_widget"),
    [
        (FastTextInput, forms.TextInput),
        (FastNumberInput, forms.NumberInput),
        (FastHiddenInput, forms.HiddenInput),
    ],
)
@pytest.mark.parametrize(
    ("value", "attrs"),
    [
        (None, None),
        ("", {"id": "id_q", "required": True, "disabled": False}),
        ('Tom & "Jerry" <script>', {"placeholder": "<'>", "maxlength": 200}),
        (Decimal("40.7128000"), {"step": "1E-7", "min": -90}),
        (50, {"aria-invalid": "true"}),
        (mark_safe("<b>kept</b>"), None),
    ],
)
def test_inputs_have_the_same_markup_as_djangos(fast, django_widget, value, attrs):
    ours = fast(attrs={"class": "x&y"}).render("name&", value, attrs)
    djangos = django_widget(attrs={"class": "x&y"}).render("name&", value, attrs)
    assert str(ours) == str(djangos)


def test_a_form_field_renders_through_the_fast_input():
    class Form(forms.Form):
        lat = forms.DecimalField(decimal_places=7, max_digits=10, min_value=-90, widget=FastNumberInput)

    html = str(Form({"lat": "40.5"})["lat"])
    assert html == '<input type="number" name="lat" value="40.5" min="-90" step="1e-7" required id="id_lat">'
