// procmine web page: the little JavaScript on top of server-rendered pages.
// Every feature degrades: without this file the forms still submit and the maps still show.
"use strict";

(function () {
  // -- confirmations before deleting -------------------------------------------------------
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // -- upload with a progress bar ----------------------------------------------------------
  var form = document.getElementById("upload-form");
  if (form) {
    var input = form.querySelector("input[type=file]");
    var bar = document.getElementById("upload-progress");
    var percent = document.getElementById("upload-percent");
    var status = document.getElementById("upload-status");
    var row = form.querySelector(".progress-row");
    var busy = false;

    var say = function (text, isError) {
      status.textContent = text;
      status.className = isError ? "error" : "";
    };

    var send = function (file) {
      if (busy) return;
      if (!file) { say("Choose a file first.", true); return; }
      var maxBytes = Number(form.getAttribute("data-max-bytes")) || Infinity;
      if (file.size > maxBytes) {
        say(file.name + " is larger than this service accepts (" + Math.round(maxBytes / 1048576) + " MiB).", true);
        return;
      }
      busy = true;
      var data = new FormData();
      data.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      row.hidden = false;
      bar.value = 0;
      say("Uploading " + file.name + "…");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var p = Math.floor((100 * e.loaded) / e.total);
        bar.value = p;
        percent.textContent = p + "%";
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        percent.textContent = "100%";
        say("Uploaded. Reading the first rows…");
      });
      xhr.addEventListener("load", function () {
        busy = false;
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status === 201 && body && body.location) {
          window.location.assign(body.location);
          return;
        }
        var detail = body && (body.detail || body.title);
        say("The upload was refused: " + (detail || "HTTP " + xhr.status), true);
      });
      xhr.addEventListener("error", function () {
        busy = false;
        say("The upload failed: the connection was lost.", true);
      });
      xhr.send(data);
    };

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(input.files && input.files[0]);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      form.addEventListener(name, function (event) {
        event.preventDefault();
        form.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      form.addEventListener(name, function () { form.classList.remove("dragging"); });
    });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) {
        try { input.files = files; } catch (e) { /* read-only in old browsers */ }
        send(files[0]);
      }
    });
  }

  // -- a running analysis: poll its progress, reload when it ends --------------------------
  var progress = document.getElementById("progress");
  if (progress) {
    var url = progress.getAttribute("data-status-url");
    var meter = document.getElementById("analysis-progress");
    var phase = document.getElementById("analysis-phase");
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          meter.value = s.progress || 0;
          phase.textContent = (s.phase || s.state) + " (" + Math.round(100 * (s.progress || 0)) + "%)";
          if (s.state === "done" || s.state === "failed") window.location.reload();
          else window.setTimeout(poll, 700);
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    };
    window.setTimeout(poll, 300);
  }

  // -- maps: zoom and pan ------------------------------------------------------------------
  var initView = function (view) {
    var svg = view.querySelector("svg");
    if (!svg) return;
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    var base = svg.getAttribute("viewBox").split(/[\s,]+/).map(Number);
    var box = base.slice();
    var apply = function () { svg.setAttribute("viewBox", box.join(" ")); };
    var zoom = function (factor, cx, cy) {
      // Zoom around (cx, cy) in SVG units; factor < 1 zooms in.
      var w = box[2] * factor, h = box[3] * factor;
      if (w < base[2] / 40 || w > base[2] * 4) return;
      box = [cx - (cx - box[0]) * factor, cy - (cy - box[1]) * factor, w, h];
      apply();
    };
    var centre = function () { return [box[0] + box[2] / 2, box[1] + box[3] / 2]; };
    var toSvg = function (clientX, clientY) {
      var r = svg.getBoundingClientRect();
      var scale = Math.max(box[2] / r.width, box[3] / r.height);
      var offX = (r.width * scale - box[2]) / 2, offY = (r.height * scale - box[3]) / 2;
      return [box[0] - offX + (clientX - r.left) * scale, box[1] - offY + (clientY - r.top) * scale, scale];
    };
    view.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = toSvg(e.clientX, e.clientY);
      zoom(e.deltaY < 0 ? 0.85 : 1 / 0.85, p[0], p[1]);
    }, { passive: false });
    var drag = null;
    view.addEventListener("pointerdown", function (e) {
      drag = { x: e.clientX, y: e.clientY, box: box.slice(), scale: toSvg(e.clientX, e.clientY)[2] };
      view.setPointerCapture(e.pointerId);
      view.classList.add("panning");
    });
    view.addEventListener("pointermove", function (e) {
      if (!drag) return;
      box = [drag.box[0] - (e.clientX - drag.x) * drag.scale, drag.box[1] - (e.clientY - drag.y) * drag.scale, box[2], box[3]];
      apply();
    });
    var stop = function () { drag = null; view.classList.remove("panning"); };
    view.addEventListener("pointerup", stop);
    view.addEventListener("pointercancel", stop);
    view.addEventListener("keydown", function (e) {
      var c = centre(), step = box[2] / 10;
      var keys = {
        "+": function () { zoom(0.8, c[0], c[1]); },
        "=": function () { zoom(0.8, c[0], c[1]); },
        "-": function () { zoom(1.25, c[0], c[1]); },
        "0": function () { box = base.slice(); apply(); },
        ArrowLeft: function () { box[0] -= step; apply(); },
        ArrowRight: function () { box[0] += step; apply(); },
        ArrowUp: function () { box[1] -= step; apply(); },
        ArrowDown: function () { box[1] += step; apply(); }
      };
      if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
    });
    var toolbar = view.previousElementSibling;
    if (toolbar) {
      toolbar.addEventListener("click", function (e) {
        var which = e.target.getAttribute && e.target.getAttribute("data-zoom");
        var c = centre();
        if (which === "in") zoom(0.8, c[0], c[1]);
        else if (which === "out") zoom(1.25, c[0], c[1]);
        else if (which === "reset") { box = base.slice(); apply(); }
      });
    }
  };

  // -- maps: overlay, map and path slider update in place ----------------------------------
  var initPanel = function (panel) {
    var controls = panel.querySelector(".map-controls");
    var figure = panel.querySelector(".map-figure");
    if (!controls || !figure) return;
    controls.classList.add("live");
    var output = controls.querySelector(".paths-out");
    var slider = controls.querySelector("input[type=range]");
    var timer = null;
    var load = function (resetPaths) {
      var params = new URLSearchParams(new FormData(controls));
      var name = params.get("map") || "process";
      params.delete("map");
      params.set("name", name);
      // A different map starts at its own default number of paths.
      if (resetPaths) params.delete("paths");
      var finding = controls.getAttribute("data-finding");
      if (finding && name === "process") params.set("finding", finding);
      figure.classList.add("loading");
      return fetch(controls.getAttribute("data-fragment") + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.text();
        })
        .then(function (text) {
          figure.innerHTML = text;
          figure.classList.remove("loading");
          var view = figure.querySelector(".map-view");
          if (view) {
            initView(view);
            if (slider) {
              slider.max = Math.max(1, Number(view.getAttribute("data-total")));
              slider.min = Math.max(1, Number(view.getAttribute("data-least")));
              slider.value = Number(view.getAttribute("data-paths"));
              slider.disabled = false;
              output.textContent = slider.value + " of " + slider.max;
            }
          } else if (slider) {
            slider.disabled = true;
            output.textContent = "0 of 0";
          }
          var page = new URLSearchParams(new FormData(controls));
          history.replaceState(null, "", window.location.pathname + "?" + page.toString() + "#" + panel.id);
        })
        .catch(function (err) {
          figure.classList.remove("loading");
          var note = document.createElement("p");
          note.className = "error";
          note.setAttribute("role", "alert");
          note.textContent = "The map could not be drawn: " + err.message;
          figure.prepend(note);
        });
    };
    controls.addEventListener("change", function (e) {
      if (e.target === slider) return; // handled on input, debounced
      load(e.target.name === "map");
    });
    if (slider) {
      slider.addEventListener("input", function () {
        output.textContent = slider.value + " of " + slider.max;
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { load(false); }, 350);
      });
    }
    controls.addEventListener("submit", function (e) { e.preventDefault(); load(false); });
    panel.procmineLoad = function (finding) {
      controls.setAttribute("data-finding", finding || "");
      var process = controls.querySelector("input[name=map][value=process]");
      var reset = process && !process.checked;
      if (process) process.checked = true;
      return load(reset);
    };
  };

  document.querySelectorAll(".map-view").forEach(initView);
  document.querySelectorAll("section.maps").forEach(initPanel);

  // -- "Show on map" on a finding card ------------------------------------------------------
  document.querySelectorAll(".show-on-map").forEach(function (link) {
    link.addEventListener("click", function (e) {
      var panel = document.getElementById("maps");
      if (!panel || !panel.procmineLoad) return;
      e.preventDefault();
      document.querySelectorAll(".finding.highlighted").forEach(function (c) { c.classList.remove("highlighted"); });
      var card = link.closest(".finding");
      if (card) card.classList.add("highlighted");
      panel.procmineLoad(link.getAttribute("data-finding")).then(function () {
        panel.scrollIntoView({ behavior: "smooth", block: "start" });
        var view = panel.querySelector(".map-view");
        if (view) view.focus({ preventScroll: true });
      });
    });
  });
})();
