import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
application = get_wsgi_application()

from marketplace.checks import refuse_to_serve_with_errors  # noqa: E402

refuse_to_serve_with_errors()
