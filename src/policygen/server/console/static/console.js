// policygen console: follow running jobs and copy policies. Pages work without it.
"use strict";

function follow() {
  const watched = Array.from(document.querySelectorAll("[data-follow]"));
  if (watched.length === 0) return;
  let pending = false;
  async function poll() {
    if (pending) return;
    pending = true;
    try {
      for (const element of watched) {
        const answer = await fetch(element.dataset.follow, {
          credentials: "same-origin", headers: {"Accept": "application/json"}, cache: "no-store",
        });
        // signed out, or the job is gone: the page itself says what happened
        if (!answer.ok || answer.redirected) { window.location.reload(); return; }
        const job = await answer.json();
        if (job.status !== "IN_PROGRESS") { window.location.reload(); return; }
      }
    } catch (error) {
      // the server is restarting, or the network is gone: try again at the next tick
    } finally {
      pending = false;
    }
  }
  window.setInterval(poll, 1000);
}

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    const said = button.parentElement.querySelector(".copied");
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent);
        said.textContent = "Copied.";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        said.textContent = "Selected: press Ctrl+C to copy.";
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => { follow(); copyButtons(); });
