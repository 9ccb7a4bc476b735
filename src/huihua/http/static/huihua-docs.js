// The /docs page: Swagger UI (from the installed swagger-ui-bundle-v2 package, served by
// huihua itself) rendering /openapi.json. With auth on, the page first asks for the service
// key, then sends it as a bearer credential with every request it makes, the description's
// included (docs/api.md §6). The key stays in this page's memory: it is never stored.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-openapi");

  function show(key) {
    window.ui = SwaggerUIBundle({
      url: url,
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null, // no badge from an outside validator: the page stays offline
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      requestInterceptor: function (request) {
        if (key) {
          request.headers.Authorization = "Bearer " + key;
        }
        return request;
      },
    });
  }

  if (body.getAttribute("data-auth") !== "on") {
    show(null);
    return;
  }
  var form = document.getElementById("key-form");
  var input = document.getElementById("service-key");
  var error = document.getElementById("key-error");
  form.hidden = false;
  input.focus();
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var key = input.value.trim();
    error.textContent = "";
    // The key is tried on the description first, so that a wrong one is said here.
    fetch(url, { headers: { Authorization: "Bearer " + key }, cache: "no-store" })
      .then(function (response) {
        if (response.ok) {
          form.hidden = true;
          show(key);
          return null;
        }
        return response.json().then(function (reply) {
          error.textContent = reply.failed || "refused: HTTP " + response.status;
        });
      })
      .catch(function (failure) {
        error.textContent = "cannot reach the server: " + failure;
      });
  });
})();
