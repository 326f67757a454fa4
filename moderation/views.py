"""Members report a listing, a user, a review or a message: one page per object, a reason
from the list and optional details. The service decides everything (visibility, once per
object, the rate limit); the view parses and renders."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from marketplace.errors import ErrorCode, ServiceError
from moderation.forms import ReportForm
from moderation.models import ReportTarget
from moderation.selectors import report_subject
from moderation.services import report_create


@login_required
@require_http_methods(["GET", "POST"])
def report(request, target_type: str, object_id):
    subject = report_subject(viewer=request.user, target_type=target_type, object_id=object_id)
    if subject is None:
        raise Http404("Nothing to report here.")
    form = ReportForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_valid():
        try:
            report_create(
                reporter=request.user,
                target_type=target_type,
                target_id=object_id,
                reason=form.cleaned_data["reason"],
                text=form.cleaned_data["text"],
            )
        except ServiceError as error:
            if error.code == ErrorCode.RATE_LIMITED:
                context = {"throttle_message": error.message}
                return render(request, "accounts/rate_limited.html", context, status=429)
            if error.code == ErrorCode.NOT_FOUND:
                raise Http404(error.message) from error
            form.add_error(None, error.message)
            status = 409 if error.code == ErrorCode.ALREADY_REPORTED else 400
        else:
            messages.success(request, "Thank you: your report was sent to our team.")
            return redirect(subject.back_url)
    elif request.method == "POST":
        status = 400
    context = {"form": form, "subject": subject, "target_label": ReportTarget(target_type).label.lower()}
    return render(request, "moderation/report.html", context, status=status)
