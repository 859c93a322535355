/* tiered upload progress: loaded with defer after htmx, on pages with a file form. No inline
   script, no eval. Without it (or without script at all) the form is an ordinary multipart form
   and works the same; with it, the person sees the upload advance.

   A form marked data-tiered-upload, enhanced by htmx (data-hx-post, data-hx-encoding=
   "multipart/form-data"), is sent by XMLHttpRequest instead of fetch, because fetch cannot
   report an upload's progress: the request is otherwise htmx's own (same headers, body, target,
   swap), and so is the handling of the answer, including HX-Redirect. While it goes, the form
   shows a progress bar and "1.2 MB of 3.4 MB sent (35%)"; a polite live region says the
   percentage at each quarter, so a screen reader is told without being flooded. The submit
   button is disabled until the answer arrives. */
(() => {
  if (!window.htmx) return;
  const doc = document;
  const STEP = 25; // announce at 25%, 50%, 75%, 100%

  const size = (bytes) => {
    if (bytes < 1000) return `${bytes} bytes`;
    if (bytes < 1e6) return `${(bytes / 1e3).toFixed(0)} KB`;
    return `${(bytes / 1e6).toFixed(1)} MB`;
  };

  const meterOf = (form) => {
    let box = form.querySelector(".upload-progress");
    if (box) return box;
    box = doc.createElement("div");
    box.className = "upload-progress";
    box.hidden = true;
    const bar = doc.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress");
    const text = doc.createElement("p");
    text.className = "upload-progress-text";
    text.setAttribute("aria-hidden", "true");
    const said = doc.createElement("p");
    said.className = "visually-hidden";
    said.setAttribute("role", "status");
    box.append(bar, text, said);
    form.append(box);
    return box;
  };

  const headersOf = (xhr) => {
    const headers = new Headers();
    for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
      const at = line.indexOf(":");
      if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
    }
    return headers;
  };

  // fetch's signature, by XMLHttpRequest, reporting upload progress to `progress(sent, total)`.
  const xhrFetch = (progress) => (url, init) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(init.method || "GET", url);
    xhr.withCredentials = init.credentials !== "omit";
    for (const [name, value] of Object.entries(init.headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      const empty = [101, 204, 205, 304].includes(xhr.status);
      resolve(new Response(empty ? null : xhr.responseText, {
        status: xhr.status,
        statusText: xhr.statusText,
        headers: headersOf(xhr),
      }));
    });
    xhr.addEventListener("error", () => reject(new TypeError("The upload failed: network error.")));
    xhr.addEventListener("abort", () => reject(new DOMException("The upload was stopped.", "AbortError")));
    if (init.signal) init.signal.addEventListener("abort", () => xhr.abort());
    xhr.send(init.body);
  });

  doc.addEventListener("htmx:config:request", (e) => {
    const ctx = e.detail && e.detail.ctx;
    const form = ctx && ctx.sourceElement && ctx.sourceElement.closest("form[data-tiered-upload]");
    if (!form) return;
    const box = meterOf(form);
    const bar = box.querySelector("progress");
    const text = box.querySelector(".upload-progress-text");
    const said = box.querySelector("[role=status]");
    const button = form.querySelector("button[type=submit], button:not([type])");
    let announced = -1;
    box.hidden = false;
    if (button) button.disabled = true;
    form.setAttribute("aria-busy", "true");
    ctx.fetch = xhrFetch((sent, total) => {
      const percent = Math.floor((sent / total) * 100);
      bar.value = percent;
      text.textContent = `${size(sent)} of ${size(total)} sent (${percent}%)`;
      const step = Math.floor(percent / STEP) * STEP;
      if (step > announced) {
        announced = step;
        said.textContent = step >= 100 ? "Upload complete; checking the file." : `Upload ${step}% sent.`;
      }
    });
    const done = () => {
      if (button) button.disabled = false;
      form.removeAttribute("aria-busy");
      form.removeEventListener("htmx:finally:request", done);
    };
    form.addEventListener("htmx:finally:request", done);
  });
})();
