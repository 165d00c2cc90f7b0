"""The staff JSON API (API keys, roles); documented by the app's OpenAPI schema."""

from fastapi import APIRouter

from alerts.web.api import (
    defaults,
    items,
    journalists,
    keys,
    media,
    reports,
    schemas,
    translations,
)

# Every operation may meet these: a malformed body, no or a bad key, the wrong
# role, a body over the size limit, a field that fails validation.
COMMON = {
    code: {"model": schemas.Problem, "description": text}
    for code, text in (
        (400, "Malformed request"),
        (401, "No valid staff API key"),
        (403, "The key's role may not do this"),
        (413, "Request body too large"),
    )
}

router = APIRouter(prefix="/api", responses=COMMON)  # type: ignore[arg-type]
router.include_router(items.router)
router.include_router(translations.router)
router.include_router(reports.router)
router.include_router(journalists.router)
router.include_router(keys.router)
router.include_router(media.router)
router.include_router(defaults.router)
