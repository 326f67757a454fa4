from django import template

from notifications.forms import PreferencesForm

register = template.Library()


@register.inclusion_tag("notifications/_preferences.html", takes_context=True)
def notification_preferences(context):
    """The notification settings form for the signed-in member (one query: their choices)."""
    request = context["request"]
    return {"form": PreferencesForm(user=request.user), "csrf_token": context.get("csrf_token")}
