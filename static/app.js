// toiawase form page: a character counter and Ctrl/Cmd+Enter to submit. The page works without it.
(function () {
  "use strict";
  var textarea = document.getElementById("question");
  var counter = document.getElementById("char-count");
  if (!textarea) return;
  var limit = parseInt(textarea.getAttribute("maxlength"), 10) || 5000;

  function update() {
    if (!counter) return;
    var n = Array.from(textarea.value).length; // code points, as the server counts
    counter.textContent = "（" + n.toLocaleString("ja-JP") + " / " + limit.toLocaleString("ja-JP") + " 文字）";
    counter.classList.toggle("over", n > limit);
  }

  textarea.addEventListener("input", update);
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      textarea.form.requestSubmit ? textarea.form.requestSubmit() : textarea.form.submit();
    }
  });
  update();
})();
