// The cart's submit form: show the card field only when a card method is chosen.
(function () {
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
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("form[data-cart-submit] select[name=method]")) sync();
  });
  document.addEventListener("DOMContentLoaded", function () { sync(); });
  document.addEventListener("htmx:afterSwap", function () { sync(); });
})();
