/* The upload form with a progress bar: the same POST as without JavaScript, sent by
 * XMLHttpRequest so that the bytes sent can be shown. The server's answer is followed as the
 * browser would: a redirect to the submission's result page is opened, a refusal (422, the
 * form again with its error) replaces the page's main content.
 */
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  var progress = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  if (!form || !progress || !status || !window.FormData || !window.XMLHttpRequest) {
    return;
  }

  function say(key) {
    var messages = status.querySelectorAll("[data-message]");
    for (var i = 0; i < messages.length; i++) {
      messages[i].hidden = messages[i].getAttribute("data-message") !== key;
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    var request = new XMLHttpRequest();
    request.open("POST", form.getAttribute("action"));
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        progress.max = e.total;
        progress.value = e.loaded;
      }
    });
    request.upload.addEventListener("load", function () {
      progress.value = progress.max;
      form.setAttribute("data-uploaded", "true");
      say("checking");
    });
    request.addEventListener("load", function () {
      if (request.status >= 200 && request.status < 300 && request.responseURL) {
        window.location.assign(request.responseURL);
        return;
      }
      var answer = new DOMParser().parseFromString(request.responseText, "text/html");
      var main = answer.querySelector("main");
      if (main) {
        document.querySelector("main").replaceWith(main);
      } else {
        say("failed");
        button.disabled = false;
      }
    });
    request.addEventListener("error", function () {
      say("failed");
      button.disabled = false;
    });
    progress.hidden = false;
    progress.value = 0;
    button.disabled = true;
    say("sending");
    request.send(new FormData(form));
  });
})();
