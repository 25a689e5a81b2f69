"""File storage: ``ctx.storage``, the ``_storage`` system table, upload and file URLs.

See ``docs/files.md``. ``service`` holds the rules, ``blobs`` the bytes, ``http`` the endpoints
(imported by the server only: it sits above the function runner), ``context`` what functions
call.
"""

from livebase.files.service import STORAGE, FileService, system_tables

__all__ = ["STORAGE", "FileService", "system_tables"]
