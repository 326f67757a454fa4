"""Storage for private files (message attachments): ``storages["private"]``.

Locally, files live under ``PRIVATE_MEDIA_ROOT``, which nothing serves (it is not under
``MEDIA_ROOT``, and the storage has no URL): a file leaves only through a view that checked
who asks. On S3 the same alias is an ``S3Storage`` with private objects (settings).
"""

from django.core.files.storage import FileSystemStorage, storages


class PrivateFileSystemStorage(FileSystemStorage):
    def url(self, name):
        raise NotImplementedError("Private files have no public URL: link to the view that serves them.")


def private_storage():
    return storages["private"]
