"""/api/docs: Swagger UI served from the package, so the site's CSP lets it run.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline
script; the CSP blocks both and the page stays blank. The assets come from the
``swagger-ui-bundle-v2`` package instead (Swagger UI 5, which reads OpenAPI
3.1), and the start-up script is a static file of ours. URLs are relative, so
the page works under any root path.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/api/docs/assets"

router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="../static/api-docs.js"></script>
</body>
</html>
"""

# The site's policy, plus the data: images Swagger UI's stylesheet uses for icons.
CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'"
)


def assets() -> StaticFiles:
    return StaticFiles(directory=str(swagger_ui_path))


@router.get("/api/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse(
        PAGE.format(title="newsroom-alerts"), headers={"Content-Security-Policy": CSP}
    )
