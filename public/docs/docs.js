// Renders /openapi.json with Swagger UI from ./vendor/ (copied from swagger-ui-dist by
// scripts/build-assets.ts). Nothing is fetched from another origin: no CDN, and no online validator.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#reference',
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  deepLinking: true,
  validatorUrl: null,
  displayRequestDuration: true,
  tryItOutEnabled: false,
});
