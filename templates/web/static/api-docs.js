// Starts Swagger UI on /api/docs. A file of its own, not an inline script:
// the pages' Content-Security-Policy allows scripts from this site only.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json", // beside /api/docs, under whatever root the site is served at
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // no call to an outside validator
  });
});
