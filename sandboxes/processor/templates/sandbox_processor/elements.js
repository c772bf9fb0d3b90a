// The sandbox processor's card form, served by the sandbox (like Stripe.js): a checkout
// page mounts it and asks it for a payment method id; the card number goes from this
// form to the sandbox only, never to the page's own server.
//
//   var elements = SandboxElements("pk_sandbox_…");
//   elements.mount(container);
//   elements.createPaymentMethod().then(function (result) { result.paymentMethod.id … result.error.message });
(function () {
  var script = document.currentScript;
  var base = script ? script.src.replace(/\/elements\.js(\?.*)?$/, "") : "";

  function input(name, label, placeholder, size) {
    var wrap = document.createElement("div");
    wrap.className = "sandbox-card-" + name;
    var id = "sandbox-card-" + name + "-" + Math.random().toString(36).slice(2, 8);
    var lab = document.createElement("label");
    lab.className = "form-label small mb-1";
    lab.htmlFor = id;
    lab.textContent = label;
    var field = document.createElement("input");
    field.id = id;
    field.className = "form-control form-control-sm";
    field.inputMode = "numeric";
    field.autocomplete = name === "number" ? "cc-number" : name === "exp" ? "cc-exp" : "cc-csc";
    field.placeholder = placeholder;
    field.size = size;
    field.setAttribute("data-sandbox-card", name);
    wrap.appendChild(lab);
    wrap.appendChild(field);
    return wrap;
  }

  window.SandboxElements = function (publishableKey) {
    var fields = {};
    return {
      mount: function (container) {
        container.innerHTML = "";
        var box = document.createElement("div");
        box.className = "sandbox-card d-flex flex-wrap gap-2 border rounded p-2 bg-body-tertiary";
        box.setAttribute("data-testid", "sandbox-card-form");
        var number = input("number", "Card number", "4242 4242 4242 4242", 19);
        var exp = input("exp", "MM / YY", "12 / 30", 7);
        var cvc = input("cvc", "CVC", "123", 4);
        number.style.flex = "1 1 12rem";
        box.appendChild(number);
        box.appendChild(exp);
        box.appendChild(cvc);
        var note = document.createElement("div");
        note.className = "w-100 small text-body-secondary";
        note.textContent = "Sandbox card form: test cards only.";
        box.appendChild(note);
        container.appendChild(box);
        fields.number = number.querySelector("input");
        fields.exp = exp.querySelector("input");
        fields.cvc = cvc.querySelector("input");
      },
      createPaymentMethod: function () {
        var exp = (fields.exp.value || "").split("/");
        var card = {
          number: (fields.number.value || "").replace(/\s+/g, ""),
          exp_month: (exp[0] || "").trim(),
          exp_year: (exp[1] || "").trim(),
          cvc: (fields.cvc.value || "").trim(),
        };
        // A plain-text body: a simple cross-origin request, no preflight.
        return fetch(base + "/payment_methods", {
          method: "POST",
          headers: { "Content-Type": "text/plain" },
          body: JSON.stringify({ key: publishableKey, card: card }),
        }).then(function (response) {
          return response.json().then(function (body) {
            if (response.ok) return { paymentMethod: body };
            return { error: (body && body.error) || { message: "The card could not be read." } };
          });
        }, function () {
          return { error: { message: "The card form cannot reach the processor." } };
        });
      },
    };
  };
})();
