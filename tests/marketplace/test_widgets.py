import re
from decimal import Decimal

import pytest
from django import forms
from django.utils.safestring import mark_safe

from marketplace.widgets import (
    FastHiddenInput,
    FastNumberInput,
    FastSelect,
    FastTextInput,
    SharedChoiceField,
    fast_copied_fields,
)


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


class _Declared(forms.Form):
    q = forms.CharField(max_length=20, required=False, widget=FastTextInput)
    kind = SharedChoiceField(choices=[("a", "A"), ("b", "B")], required=False, widget=FastSelect)
    amount = forms.DecimalField(max_digits=5, decimal_places=2, required=False)
    picks = forms.MultipleChoiceField(
        choices=[("x", "X")], required=False, widget=forms.CheckboxSelectMultiple
    )


@fast_copied_fields
class _FastCopied(_Declared):
    pass


def test_fast_copied_fields_give_each_form_fields_of_its_own():
    first, second = _FastCopied(), _FastCopied()
    for name in first.fields:
        for mine, theirs in [(first, second), (first, _FastCopied)]:
            field, other = (
                mine.fields[name],
                theirs.base_fields[name] if theirs is _FastCopied else theirs.fields[name],
            )
            assert field is not other and field.widget is not other.widget
            assert field.widget.attrs is not other.widget.attrs
            assert field.error_messages is not other.error_messages
            assert field.validators is not other.validators
    first.fields["q"].widget.attrs["placeholder"] = "mine"
    first.fields["q"].error_messages["required"] = "mine"
    first.fields["q"].validators.append(lambda value: None)
    first.fields["kind"].choices = [("c", "C")]
    assert "placeholder" not in second.fields["q"].widget.attrs
    assert "placeholder" not in _FastCopied.base_fields["q"].widget.attrs
    assert second.fields["q"].error_messages["required"] != "mine"
    assert len(second.fields["q"].validators) == len(_FastCopied.base_fields["q"].validators)
    assert list(second.fields["kind"].choices) == [("a", "A"), ("b", "B")]


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"q": "desk", "kind": "b", "amount": "1.5", "picks": ["x"]},
        {"q": "x" * 30, "kind": "zzz", "amount": "abc"},
    ],
)
def test_fast_copied_fields_validate_and_render_as_deep_copies_do(data):
    fast, plain = _FastCopied(data), _Declared(data)
    if data is not None:
        assert fast.is_valid() == plain.is_valid()
        assert fast.errors == plain.errors
        assert fast.cleaned_data == plain.cleaned_data
    assert str(fast) == str(plain)


def test_a_shared_choice_field_validates_and_renders_the_options_it_is_given():
    first, second = _FastCopied({"kind": "c"}), _FastCopied({"kind": "c"})
    first.fields["kind"].share_choices((("c", "Sea"), ("d", "Dee")))
    assert first.is_valid(), first.errors
    assert first.cleaned_data["kind"] == "c"
    assert not second.is_valid() and "kind" in second.errors  # its own options: a and b
    rendered = normalised(first["kind"])
    assert '<option value="c" selected>Sea</option><option value="d">Dee</option>' in rendered
    assert list(_FastCopied.base_fields["kind"].choices) == [("a", "A"), ("b", "B")]
