// toiawase files page (/files): upload with a progress bar (XMLHttpRequest upload progress events),
// and a "routing..." note while a large file is routed. The pages work without it (plain form posts).
(function () {
  "use strict";

  function showError(box, html) {
    // The server's 4xx answer is the same page with the message: show its message box here.
    var doc = new DOMParser().parseFromString(html, "text/html");
    var answer = doc.getElementById("file-error") || doc.querySelector(".alert-error");
    box.innerHTML = answer ? answer.innerHTML : "<p><strong>アップロードに失敗しました。</strong></p>";
    box.hidden = false;
  }

  var upload = document.getElementById("upload-form");
  if (upload && window.FormData && window.XMLHttpRequest) {
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var box = document.getElementById("file-error");
    var button = upload.querySelector("button[type=submit]");
    upload.addEventListener("submit", function (event) {
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", upload.action);
      bar.hidden = false;
      bar.value = 0;
      box.hidden = true;
      button.disabled = true;
      status.textContent = "アップロード中…";
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.value = Math.round((100 * e.loaded) / e.total);
        status.textContent = "アップロード中… " + bar.value + "%（" + (e.loaded / 1048576).toFixed(1) + " / " + (e.total / 1048576).toFixed(1) + " MB）";
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        status.textContent = "ファイルを確認しています…";
      });
      xhr.addEventListener("load", function () {
        button.disabled = false;
        if (xhr.status < 400 && xhr.responseURL) {
          window.location.assign(xhr.responseURL); // the job's column page (the server redirected there)
          return;
        }
        bar.hidden = true;
        status.textContent = "";
        showError(box, xhr.responseText);
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        bar.hidden = true;
        status.textContent = "";
        box.innerHTML = "<p><strong>サーバーに送信できませんでした。ファイルが大きすぎるか、接続が切れました。</strong></p>";
        box.hidden = false;
      });
      xhr.send(new FormData(upload));
    });
  }

  var columns = document.getElementById("column-form");
  if (columns) {
    columns.addEventListener("submit", function () {
      var note = document.getElementById("route-status");
      note.textContent = "振り分け中です。10 万行で 1 分ほどかかります。このままお待ちください…";
      // Disabled after the submit has been taken (a disabled button would not be sent).
      window.setTimeout(function () { document.getElementById("route-button").disabled = true; }, 0);
    });
  }
})();
