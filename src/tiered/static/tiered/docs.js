/* tiered's API docs page: starts the vendored Swagger UI on the element that names the OpenAPI
   document. Loaded with defer after swagger-ui-bundle.js, from the same origin, so the page needs
   no inline script (CSP: script-src 'self' 'nonce-…'). Its settings are data attributes:
   data-openapi-url, data-parameters (FastAPI's swagger_ui_parameters, JSON) and, when the app has
   them, data-init-oauth (swagger_ui_init_oauth, JSON). */
(() => {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  const data = root.dataset;
  const ui = window.SwaggerUIBundle({
    ...(data.parameters ? JSON.parse(data.parameters) : {}),
    url: data.openapiUrl,
    dom_id: "#swagger-ui",
    presets: [window.SwaggerUIBundle.presets.apis],
    // Nothing is fetched from elsewhere: no badge from the public online validator.
    validatorUrl: null,
  });
  if (data.initOauth) ui.initOAuth(JSON.parse(data.initOauth));
})();
