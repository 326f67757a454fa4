// Favorite buttons toggle in place; without JavaScript the form posts and redirects back.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.favorite-form");
  if (!form) return;
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    form.action = data.favorited ? form.dataset.unfavoriteUrl : form.dataset.favoriteUrl;
    button.setAttribute("aria-pressed", String(data.favorited));
    button.textContent = data.favorited ? "♥ Saved: remove from favorites" : "♡ Save to favorites";
    const count = document.querySelector("[data-favorite-count]");
    if (count) count.textContent = data.favorite_count;
  } catch (error) {
    form.submit(); // fall back to the plain form post
  } finally {
    button.disabled = false;
  }
});
