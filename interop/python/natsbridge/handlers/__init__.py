"""File-server handlers: Plik upload and the HTTP download with backoff."""

from .http_download import fetch_with_backoff
from .plik import DEFAULT_PLIK_TTL, plik_upload, plik_upload_handler

__all__ = ["DEFAULT_PLIK_TTL", "fetch_with_backoff", "plik_upload", "plik_upload_handler"]
