"""Form widgets rendered in Python where Django's templates cost too much for a hot page, and
choice fields whose per-form copies share their options."""

import copy
import html

from django import forms
from django.utils.safestring import mark_safe


class FastSelect(forms.Select):
    """Django's ``Select`` with the markup of its templates (``select.html``,
    ``select_option.html``, ``attrs.html``) built in Python: the templates render once per
    option (about 0.04 ms each), and the search form's selects hold about 80 options, which
    made them 3 of the search page's 7.5 ms of rendering (bench/README.md, "Fifth session").
    Every name, value and label is escaped as the templates escape them (a value already
    marked safe is kept as it is)."""

    def render(self, name, value, attrs=None, renderer=None):
        # Widget's context (name, value, attrs) without ChoiceWidget's optgroups: the options
        # are written straight from the choices, with optgroups()'s rules (a None value is "";
        # only the first match is selected unless several may be).
        widget = forms.Widget.get_context(self, name, value, attrs)["widget"]
        chosen = set(widget["value"])
        has_selected = False
        parts = [f'<select name="{escape_value(widget["name"])}"{_attrs(widget["attrs"])}>']
        for option_value, option_label in self.choices:
            if option_value is None:
                option_value = ""
            grouped = isinstance(option_label, (list, tuple))
            if grouped and option_value:
                parts.append(f'<optgroup label="{escape_value(option_value)}">')
            for subvalue, sublabel in option_label if grouped else [(option_value, option_label)]:
                selected = (not has_selected or self.allow_multiple_selected) and str(subvalue) in chosen
                has_selected |= selected
                parts.append(
                    f'<option value="{escape_value(subvalue)}"{" selected" if selected else ""}>'
                    f"{escape_value(sublabel)}</option>"
                )
            if grouped and option_value:
                parts.append("</optgroup>")
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value went through escape_value

    def share_choices(self, choices: tuple[tuple[str, str], ...]) -> None:
        """Use ``choices``, flat (value, label) string pairs built once and never changed, as
        they are: the ``choices`` setter normalizes them again (0.05 ms for 60 options)."""
        self._choices = choices

    def __deepcopy__(self, memo):
        # Every form copies its fields' widgets; Select's copy also copies and re-normalizes
        # the options (0.3 ms for the search form's selects). They are shared instead: forms
        # assign new options (``widget.choices = ...``), never change them in place.
        return _widget_copy(self, memo)


class FastInput:
    """Django's ``<input>`` widgets with the markup of ``input.html`` and ``attrs.html`` built in
    Python (0.08 ms less per field; the search form renders nine of them on every results
    page). Mixed into a subclass of an ``Input`` widget; escaped as ``FastSelect`` escapes."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        shown = "" if widget["value"] is None else f' value="{escape_value(widget["value"])}"'
        return mark_safe(  # noqa: S308 - every value went through _escape
            f'<input type="{escape_value(widget["type"])}" name="{escape_value(widget["name"])}"{shown}'
            f"{_attrs(widget['attrs'])}>"
        )

    def __deepcopy__(self, memo):
        return _widget_copy(self, memo)


class FastTextInput(FastInput, forms.TextInput):
    pass


class FastNumberInput(FastInput, forms.NumberInput):
    pass


class FastHiddenInput(FastInput, forms.HiddenInput):
    pass


class SharedChoiceField(forms.ChoiceField):
    """A ``ChoiceField`` whose per-form copy shares the options instead of deep-copying them
    (see ``FastSelect.__deepcopy__``): for options fixed when the form class is defined, or
    replaced whole by the form (``field.choices = ...``)."""

    def __deepcopy__(self, memo):
        return _field_copy(self, memo)

    def share_choices(self, choices: tuple[tuple[str, str], ...]) -> None:
        """The field's and its widget's options: ``choices``, flat (value, label) string pairs
        built once and never changed, taken as they are (the ``choices`` setter normalizes
        them again on every form)."""
        self._choices = self.widget._choices = choices


def fast_copied_fields(form_class: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """Class decorator: each form of ``form_class`` copies its declared fields as Django does
    (``BaseForm.__init__`` deep-copies ``base_fields``: a new field, a new widget, their own
    ``attrs``, ``error_messages`` and ``validators``), by their ``__dict__`` instead of through
    ``copy``'s protocol: 2 µs a field instead of 6, on a search form copied for every search.
    A field or widget with a ``__deepcopy__`` of its own (choices, subwidgets) is deep-copied
    as usual, except this module's, which share their options."""
    form_class.base_fields = _FastCopyFields(form_class.base_fields)
    return form_class


class _FastCopyFields(dict):
    def __deepcopy__(self, memo):
        return {name: _field_copy(field, memo) for name, field in self.items()}


_PLAIN_FIELD_COPIES = (forms.Field.__deepcopy__, SharedChoiceField.__deepcopy__)
_PLAIN_WIDGET_COPIES = (forms.Widget.__deepcopy__, FastSelect.__deepcopy__, FastInput.__deepcopy__)


def _field_copy(field: forms.Field, memo: dict) -> forms.Field:
    """``Field.__deepcopy__`` for a field whose class copies nothing else."""
    if type(field).__deepcopy__ not in _PLAIN_FIELD_COPIES:
        return copy.deepcopy(field, memo)
    result = _shallow_copy(field)
    memo[id(field)] = result
    widget = field.widget
    result.widget = (
        _widget_copy(widget, memo)
        if type(widget).__deepcopy__ in _PLAIN_WIDGET_COPIES
        else copy.deepcopy(widget, memo)
    )
    result.error_messages = field.error_messages.copy()
    result.validators = field.validators[:]
    return result


def _widget_copy(widget: forms.Widget, memo: dict) -> forms.Widget:
    """``Widget.__deepcopy__``: a new widget with its own ``attrs``."""
    result = _shallow_copy(widget)
    result.attrs = widget.attrs.copy()
    memo[id(widget)] = result
    return result


def _shallow_copy(obj):
    """``copy.copy`` of an object whose state is its ``__dict__`` (no slots, no ``__copy__``)."""
    result = object.__new__(type(obj))
    result.__dict__.update(obj.__dict__)
    return result


def escape_value(value) -> str:
    """``conditional_escape`` without its lazy-string wrapper (called thousands of times a page):
    a value marked safe as it is, anything else as ``str`` with ``&<>"'`` escaped."""
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))


def _attrs(attrs: dict) -> str:
    """``attrs.html``: in the given order, True as a bare name, False left out."""
    return "".join(
        f" {escape_value(name)}" if value is True else f' {escape_value(name)}="{escape_value(value)}"'
        for name, value in attrs.items()
        if value is not False
    )
