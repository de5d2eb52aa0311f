// toiawase form page: "回答をコピー" buttons copy a past ticket's answer to the clipboard.
// The buttons are hidden until this script shows them, so the page works without it.
(function () {
  "use strict";
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (no Clipboard API): a hidden textarea and the older copy command.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy failed"));
    });
  }

  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(target.textContent.trim()).then(function () {
        button.textContent = "コピーしました";
        button.classList.add("copied");
      }, function () {
        button.textContent = "コピーできませんでした";
      }).then(function () {
        window.setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 2000);
      });
    });
  });
})();
