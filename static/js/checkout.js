// Checkout: Stripe.js card Element -> PaymentMethod -> server creates the PaymentIntent;
// 3-D Secure with confirmCardPayment when the bank asks for it.
(function () {
  "use strict";
  var form = document.getElementById("payment-form");
  if (!form || typeof Stripe === "undefined") return;
  var errors = document.getElementById("payment-errors");
  var button = document.getElementById("pay-button");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");

  function showError(message) {
    errors.textContent = message || "Something went wrong; please try again.";
    button.disabled = false;
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(data || {}),
    }).then(function (response) {
      return response.json().catch(function () {
        return { status: "error", error: "Unexpected answer from the server." };
      });
    });
  }

  function follow(answer) {
    if (answer.status === "error") return showError(answer.error);
    if (answer.status === "requires_action") {
      return stripe.confirmCardPayment(answer.client_secret).then(function (result) {
        if (result.error) return showError(result.error.message);
        return post(answer.confirm_url || form.dataset.confirmUrl).then(follow);
      });
    }
    if (answer.redirect) window.location.assign(answer.redirect);
  }

  // The card as a PaymentMethod id. localstripe's Stripe.js shim (test mode) answers nothing
  // to createPaymentMethod; there a token's card id serves as the payment method instead.
  function paymentMethodId() {
    return Promise.resolve(stripe.createPaymentMethod({ type: "card", card: card })).then(function (result) {
      if (result) {
        if (result.error) throw result.error;
        return result.paymentMethod.id;
      }
      return stripe.createToken(card).then(function (tokenResult) {
        if (tokenResult && tokenResult.error) throw tokenResult.error;
        if (!tokenResult || !tokenResult.token || !tokenResult.token.card) {
          throw new Error("Enter the card number, its expiry date (MM/YY) and the CVC.");
        }
        return tokenResult.token.card.id;
      });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    errors.textContent = "";
    paymentMethodId()
      .then(function (id) {
        return post(form.action, { payment_method: id }).then(follow);
      })
      .catch(function (error) {
        showError(
          (error && error.message) || "The payment could not be sent; check your connection and try again."
        );
      });
  });
})();
