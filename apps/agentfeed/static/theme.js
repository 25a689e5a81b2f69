// The page's theme: the system's (prefers-color-scheme) until the person picks one with the
// header's toggle, which is remembered (localStorage). A classic script loaded in <head>, so
// the chosen theme is set before the first paint.
(() => {
  const STORE = "agentfeed.theme";
  const root = document.documentElement;
  const system = () => (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  const chosen = () => {
    const value = localStorage.getItem(STORE);
    return value === "dark" || value === "light" ? value : null;
  };
  const apply = () => {
    const theme = chosen();
    if (theme) root.dataset.theme = theme;
    else delete root.dataset.theme;
    const now = theme ?? system();
    const button = document.querySelector("#theme");
    if (button) {
      button.textContent = now === "dark" ? "☀" : "☾";
      button.setAttribute("aria-label", `Switch to the ${now === "dark" ? "light" : "dark"} theme`);
      button.title = button.getAttribute("aria-label");
    }
  };
  apply();
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
  addEventListener("DOMContentLoaded", () => {
    apply();
    document.querySelector("#theme")?.addEventListener("click", () => {
      localStorage.setItem(STORE, (chosen() ?? system()) === "dark" ? "light" : "dark");
      apply();
    });
  });
})();
