/* Draws the API documentation (/docs) from /openapi.json with the vendored Swagger UI. */
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  // Never ask validator.swagger.io for a badge (the standalone layout does by default): an
  // outside request that the Content-Security-Policy refuses, and a leak of the schema address.
  validatorUrl: null,
});
