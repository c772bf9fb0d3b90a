// The cart's and the member checkout's submit form: show the card field only when a
// card method is chosen, mount the processor's card form in it (the sandbox's
// elements.js, or Stripe's Payment Element), and before the form is sent turn the card
// into a payment method id (the hidden card_token). A saved card needs no form.
(function () {
  var scripts = {};

  function loadScript(src) {
    if (!scripts[src]) {
      scripts[src] = new Promise(function (resolve, reject) {
        var tag = document.createElement("script");
        tag.src = src;
        tag.onload = resolve;
        tag.onerror = reject;
        document.head.appendChild(tag);
      });
    }
    return scripts[src];
  }

  function mount(field) {
    if (field.dataset.mounted) return;
    field.dataset.mounted = "1";
    var target = field.querySelector("[data-card-element]");
    loadScript(field.dataset.script).then(function () {
      if (field.dataset.processor === "stripe") {
        // Stripe.js: a Payment Element that creates the PaymentMethod in the browser;
        // the server confirms the PaymentIntent with it ("finalize payments on the server").
        var stripe = window.Stripe(field.dataset.key);
        // With an amount: a payment; without one (Receive payment: typed later), the
        // element only collects the card ("setup" mode).
        var options = { mode: field.dataset.amount ? "payment" : "setup", paymentMethodCreation: "manual" };
        if (field.dataset.currency) options.currency = field.dataset.currency;
        if (field.dataset.amount) options.amount = parseInt(field.dataset.amount, 10);
        var elements = stripe.elements(options);
        elements.create("payment").mount(target);
        field._tokenize = function () {
          return elements.submit().then(function (submitted) {
            if (submitted.error) return { error: submitted.error };
            return stripe.createPaymentMethod({ elements: elements });
          });
        };
      } else {
        var sandbox = window.SandboxElements(field.dataset.key);
        sandbox.mount(target);
        field._tokenize = function () { return sandbox.createPaymentMethod(); };
      }
    }, function () {
      target.textContent = "The card form could not be loaded.";
    });
  }

  function sync(root) {
    (root || document).querySelectorAll("form[data-cart-submit]").forEach(function (form) {
      var select = form.querySelector("select[name=method]");
      var field = form.querySelector("[data-card-field]");
      var reference = form.querySelector("[data-reference-field]");
      if (!select || !field) return;
      var option = select.options[select.selectedIndex];
      var isCard = option && option.dataset.methodType === "credit_card";
      field.hidden = !isCard;
      if (reference) reference.hidden = isCard;
      var saved = field.querySelector("[data-saved-card]");
      var useSaved = !!(saved && saved.value);
      field.querySelector("[data-card-element]").hidden = useSaved;
      var save = field.querySelector("[data-save-card]");
      if (save) save.hidden = useSaved;
      if (isCard && !useSaved) mount(field);
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("form[data-cart-submit] select")) sync();
  });
  document.addEventListener("DOMContentLoaded", function () { sync(); });
  document.addEventListener("htmx:afterSwap", function () { sync(); });

  // A plain form (the Receive payment page): get the payment method id, then submit.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-cart-submit]") || form.hasAttribute("hx-post")) return;
    var field = form.querySelector("[data-card-field]");
    if (!field || field.hidden) return;
    var token = field.querySelector("input[name=card_token]");
    if (token.value) return;
    event.preventDefault();
    tokenize(field, function () { form.submit(); });
  });

  function tokenize(field, then) {
    var errors = field.querySelector("[data-card-errors]");
    var token = field.querySelector("input[name=card_token]");
    errors.textContent = "";
    if (!field._tokenize) {
      errors.textContent = "The card form is still loading; try again in a moment.";
      return;
    }
    field._tokenize().then(function (result) {
      if (result.error) {
        errors.textContent = result.error.message || "The card was not accepted.";
        return;
      }
      token.value = result.paymentMethod.id;
      then();
    });
  }

  // htmx asks before it sends the form: get the payment method id first.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (!form.matches || !form.matches("form[data-cart-submit]")) return;
    var field = form.querySelector("[data-card-field]");
    if (!field || field.hidden) return;
    var saved = field.querySelector("[data-saved-card]");
    if (saved && saved.value) return;
    var token = field.querySelector("input[name=card_token]");
    if (token.value) return;
    event.preventDefault();
    tokenize(field, function () { event.detail.issueRequest(true); });
  });
})();
