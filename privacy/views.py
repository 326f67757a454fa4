"""Your data: the page, "Download my data" (request, download) and "Delete my account".

Thin views over ``privacy.services`` and ``privacy.selectors``; every route is the logged-in
member's own (no user id in the URL), and a download is served only to its owner.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from marketplace.errors import ErrorCode, ServiceError
from marketplace.storage import private_storage
from privacy.selectors import access_data_export, data_export_retry_after, recent_data_exports
from privacy.services import account_delete, data_export_request


def _page(request, *, status: int = 200, **extra):
    context = {
        "exports": recent_data_exports(user=request.user),
        "ttl_hours": settings.DATA_EXPORT_TTL_HOURS,
        **extra,
    }
    return render(request, "privacy/your_data.html", context, status=status)


@login_required
def your_data(request):
    """The member's data page: their exports (links while they last), the export button and the
    way to delete the account. Two queries (the session's user, the exports)."""
    return _page(request)


@login_required
@require_POST
def export_request(request):
    try:
        data_export_request(user=request.user)
    except ServiceError as error:
        if error.code != ErrorCode.RATE_LIMITED:
            raise
        response = _page(request, status=429, export_error=error.message)
        response["Retry-After"] = str(data_export_retry_after(user=request.user) or 60)
        return response
    messages.success(
        request, "We are preparing a copy of your data. We will email you a link when it is ready."
    )
    return redirect("privacy:your_data")


@login_required
def export_download(request, export_id):
    """The zip, to its owner only while it lasts (404 otherwise, as for an unknown id)."""
    export = access_data_export(request.user, export_id)
    response = FileResponse(
        private_storage().open(export.file, "rb"),
        as_attachment=True,
        filename=f"marketplace-data-{export.pk}.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def delete_account(request):
    """GET: what deleting means, and the password form. POST: delete, log out, say goodbye."""
    template = "privacy/delete_account.html"
    if request.method != "POST":
        return render(request, template)
    try:
        account_delete(user=request.user, password=request.POST.get("password", ""))
    except ServiceError as error:
        return render(request, template, {"error": error.message, "code": error.code}, status=400)
    logout(request)
    return render(request, "privacy/deleted.html")
