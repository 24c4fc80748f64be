// The navigation works without this file (templates/_nav.html: <details>). It only closes what
// is open as people expect of a menu: a click elsewhere, or Escape (focus back on its button).
(() => {
  const opened = () => [...document.querySelectorAll(".site-nav details[open]")];
  document.addEventListener("click", (event) => {
    for (const details of opened()) {
      if (!details.contains(event.target)) details.open = false;
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = opened();
    // The innermost one holding the focus (the group inside the phone's menu), else the last.
    const around = open.filter((details) => details.contains(document.activeElement));
    const closing = around.pop() || open.pop();
    if (!closing) return;
    closing.open = false;
    closing.querySelector("summary").focus();
  });
})();
